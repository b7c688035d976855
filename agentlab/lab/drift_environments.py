"""Drift across environments: the same service at the same version on other bytes in
another running environment ("same bytes everywhere").

What counts: for a service this environment runs, each version (the image's OCI version
label, else its tag) that another environment's running replicas run too must be the
same image ids in both. A different version in another environment is not drift (that is
`agentlab diff`); a service that is not running in one of them is not compared.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from agentlab.common.imagerefs import short_id, split_image_ref
from agentlab.engine.model import ContainerImage
from agentlab.lab.drift import ENVIRONMENT_DIFFERS, Drift
from agentlab.lab.model import ProjectModel
from agentlab.project.environments import DEFAULT_ENVIRONMENT


@dataclass(frozen=True)
class EnvironmentRun:
    """What another environment's running containers run."""

    environment: str
    running: tuple[ContainerImage, ...]


def version_of(container: ContainerImage) -> str:
    """A container's version: its image's OCI version label, else its tag."""
    return container.version or split_image_ref(container.image_ref)[1]


def images_by_version(running: Sequence[ContainerImage], service: str) -> dict[str, frozenset[str]]:
    """Version -> the image ids the running containers of `service` run at that version."""
    found: dict[str, set[str]] = {}
    for container in running:
        if container.service == service and container.image_id:
            found.setdefault(version_of(container), set()).add(container.image_id)
    return {version: frozenset(ids) for version, ids in found.items()}


def find_environment_drift(
    here: str,
    services: Collection[str],
    mine: Sequence[ContainerImage],
    others: Sequence[EnvironmentRun],
    cli: str = "agentlab",
) -> list[Drift]:
    """One drift per service, other environment and version that both run on different
    image ids; `here` is this environment's name, `services` the ones checked."""
    drifts = []
    for service in sorted(services):
        ours = images_by_version(mine, service)
        for other in others:
            theirs = images_by_version(other.running, service)
            for version in sorted(set(ours) & set(theirs)):
                if ours[version] == theirs[version]:
                    continue
                drifts.append(
                    Drift(
                        service,
                        ENVIRONMENT_DIFFERS,
                        other.environment,
                        f"{service} {version} runs image {_ids(ours[version])} here ({here}) "
                        f"and image {_ids(theirs[version])} in {other.environment}",
                        f"agentlab diff {here} {other.environment} shows both; "
                        f"agentlab promote {service} --from {other.environment} --to {here} "
                        f"runs {other.environment}'s build here",
                    )
                )
    return drifts


def _ids(image_ids: frozenset[str]) -> str:
    return "+".join(sorted(short_id(i) for i in image_ids))


def other_environments(model: ProjectModel) -> list[str]:
    """The environments beside this one: `default` and agentlab.yaml's (or the default
    three), but this one."""
    names = [DEFAULT_ENVIRONMENT, *model.project.settings.environments]
    return [name for name in names if name != model.project.environment_name]


def read_environments(model: ProjectModel) -> list[EnvironmentRun]:
    """What the running containers of every other environment that runs any run (one
    container list per environment; none of their files is read)."""
    runs = []
    for name in other_environments(model):
        engine = ProjectModel(model.project.in_environment(name), model.engine_factory).engine
        running = tuple(engine.running_images())
        if running:
            runs.append(EnvironmentRun(name, running))
    return runs
