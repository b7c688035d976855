"""The fake engine's local images: tags, ids and digests, and the behaviours of each
image's next containers. One store may serve several fake projects, as one engine does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from agentlab.common.imagerefs import split_image_ref
from agentlab.engine.fake_containers import HEALTHY, Behaviour, FakeImage
from agentlab.engine.model import VERSION_LABEL, ImageInfo


@dataclass
class FakeImages:
    """Local images by full reference (`repository:tag`)."""

    by_ref: dict[str, FakeImage] = field(default_factory=dict)
    _serial: int = 0

    def add(
        self,
        ref: str,
        behaviours: Sequence[Behaviour] = (),
        version: str | None = None,
        digest: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> ImageInfo:
        """Tag a new image; its n-th container acts as behaviours[n] (the last repeats)."""
        repository, tag = split_image_ref(ref)
        labels = {VERSION_LABEL: version or tag, **(labels or {})}
        self._serial += 1  # a rebuilt tag gets a new id, as in Docker
        info = ImageInfo(repository, tag, f"sha256:{self._serial:064x}", digest, labels,
                         created=f"2026-01-01T00:00:{self._serial % 60:02d}.123456789Z",
                         repo_digests=(f"{repository}@{digest}",) if digest else ())  # fmt: skip
        self.by_ref[full_ref(ref)] = FakeImage(info, tuple(behaviours) or (HEALTHY,))
        return info

    def tag(self, source: str, ref: str) -> ImageInfo:
        """`docker tag source ref`: another name for the same image (the same id)."""
        image = self[source]
        repository, tag = split_image_ref(ref)
        info = replace(image.info, repository=repository, tag=tag)
        self.by_ref[full_ref(ref)] = FakeImage(info, image.behaviours)
        return info

    def __getitem__(self, ref: str) -> FakeImage:
        """The image a container is created from (it must exist)."""
        return self.by_ref[full_ref(ref)]

    def find(self, ref: str) -> ImageInfo | None:
        """The image `ref` names; by digest, as Docker: the one with that repo digest."""
        if "@" in ref:
            wanted = f"{split_image_ref(ref)[0]}@{ref.partition('@')[2]}"
            infos = (i.info for i in self.by_ref.values())
            return next((info for info in infos if wanted in info.repo_digests), None)
        found = self.by_ref.get(full_ref(ref))
        return found.info if found else None

    def of_repository(self, repository: str) -> list[ImageInfo]:
        return [i.info for i in self.by_ref.values() if i.info.repository == repository]

    def digests(self, image_ids: Sequence[str]) -> dict[str, str | None]:
        known = {i.info.id: i.info.digest for i in self.by_ref.values()}
        return {image_id: known.get(image_id) for image_id in image_ids}

    def tagged_ids(self) -> set[str]:
        return {i.info.id for i in self.by_ref.values()}


def full_ref(ref: str) -> str:
    """A reference with its tag, as Docker reads one without (`app` is `app:latest`)."""
    return "{}:{}".format(*split_image_ref(ref))
