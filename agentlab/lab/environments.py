"""Environments side by side: what each environment's running containers run, per
service (`agentlab diff`, the TUI's environments view, `promote --from`). Images are told
apart by id (the same bytes on this engine); the repo digest is shown when there is one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentlab.common.imagerefs import short_id, split_image_ref
from agentlab.lab.facade import Lab
from agentlab.lab.model import EngineFactory, compose_engine
from agentlab.project.location import Project


@dataclass(frozen=True)
class RunningImage:
    """One image a service's running replicas run in one environment."""

    ref: str  # as the replicas were created with it: `repo:tag`
    version: str | None  # its OCI version label, else its tag
    image_id: str
    digest: str | None  # the repo digest, when the image has one
    replicas: int

    @property
    def short(self) -> str:
        """The digest's first 12 hex digits (`sha256:…`), else the image id's."""
        return f"sha256:{short_id(self.digest)}" if self.digest else short_id(self.image_id)


@dataclass(frozen=True)
class ServiceRun:
    """A service in one environment: the images its running replicas run (none: down)."""

    environment: str
    project: str
    images: tuple[RunningImage, ...]

    @property
    def image_ids(self) -> frozenset[str]:
        return frozenset(image.image_id for image in self.images)

    @property
    def versions(self) -> str:
        """`1.3.0`, `1.3.0+1.4.1` mid-rollout, `-` when nothing runs."""
        return "+".join(image.version or "?" for image in self.images) or "-"


@dataclass(frozen=True)
class ServiceAcross:
    """One service in each compared environment, in the order they were asked for."""

    service: str
    runs: tuple[ServiceRun, ...]

    @property
    def same(self) -> bool:
        """Every environment runs exactly the same image(s) (or none)."""
        return len({run.image_ids for run in self.runs}) <= 1


def running_images(lab: Lab) -> dict[str, tuple[RunningImage, ...]]:
    """Per service, the images its running replicas run (one container list, the digests
    of the images in one read)."""
    replicas = [r for r in lab.engine.replicas() if r.running and r.image_id]
    digests = lab.engine.digests(sorted({r.image_id for r in replicas}))
    found: dict[str, dict[str, RunningImage]] = {}
    for replica in replicas:
        images = found.setdefault(replica.service, {})
        seen = images.get(replica.image_id)
        if seen is None:
            version = replica.version or split_image_ref(replica.image_ref)[1]
            images[replica.image_id] = RunningImage(
                replica.image_ref, version, replica.image_id, digests.get(replica.image_id), 1
            )
        else:
            images[replica.image_id] = RunningImage(
                seen.ref, seen.version, seen.image_id, seen.digest, seen.replicas + 1
            )
    return {service: tuple(images.values()) for service, images in found.items()}


def environment_lab(
    project: Project, name: str, engine_factory: EngineFactory = compose_engine
) -> Lab:
    """The lab of `project` in environment `name` (BadInput when unknown)."""
    return Lab(project.in_environment(name), engine_factory)


def compare(
    project: Project, environments: Sequence[str], engine_factory: EngineFactory = compose_engine
) -> list[ServiceAcross]:
    """Each managed service in each environment (`default` is the project without -e)."""
    labs = [environment_lab(project, name, engine_factory) for name in environments]
    services = list(dict.fromkeys(name for lab in labs for name in lab.managed))
    running = [running_images(lab) for lab in labs]
    return [
        ServiceAcross(
            service,
            tuple(
                ServiceRun(lab.environment, lab.name, images.get(service, ()))
                for lab, images in zip(labs, running, strict=True)
            ),
        )
        for service in services
    ]
