"""Image references: `repo[:tag][@digest]`."""

from __future__ import annotations


def split_image_ref(ref: str) -> tuple[str, str]:
    """Split `repo[:tag][@digest]` into (repo, tag); the tag defaults to `latest`."""
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def tag_of(ref: str | None) -> str | None:
    """The tag of an image reference (None when there is no reference)."""
    return split_image_ref(ref)[1] if ref else None


def short_id(image_or_container_id: str) -> str:
    """The 12 hex digits Docker shows for an id (`sha256:` dropped)."""
    return image_or_container_id.removeprefix("sha256:")[:12]
