"""Image references: `repo[:tag][@digest]`."""

from __future__ import annotations

import hashlib


def split_image_ref(ref: str) -> tuple[str, str]:
    """Split `repo[:tag][@digest]` into (repo, tag); the tag defaults to `latest`."""
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def same_image_ref(one: str, other: str) -> bool:
    """Whether two references are one as Docker reads them (`app` is `app:latest`,
    `docker.io/library/app` is `app`)."""
    return _normalized(one) == _normalized(other)


def _normalized(ref: str) -> str:
    name, _, digest = ref.partition("@")
    repository, tag = split_image_ref(name)
    for prefix in ("docker.io/library/", "docker.io/"):
        if repository.startswith(prefix):
            repository = repository.removeprefix(prefix)
            break
    return f"{repository}:{tag}@{digest}"


def fingerprint(ref: str) -> str:
    """A short hash of a reference as Docker reads it: a record of it that no text edit of
    the file holding both (even `s/1.0.0/1.1.0/g`) changes along with the reference."""
    return hashlib.sha256(_normalized(ref).encode()).hexdigest()[:16]


def tag_of(ref: str | None) -> str | None:
    """The tag of an image reference (None when there is no reference)."""
    return split_image_ref(ref)[1] if ref else None


def short_id(image_or_container_id: str) -> str:
    """The 12 hex digits Docker shows for an id (`sha256:` dropped)."""
    return image_or_container_id.removeprefix("sha256:")[:12]
