"""Container names: before `up` starts a service, the names Compose will give its
containers must be free, or the engine fails half-way ("Conflict. The container name ... is
already in use") with some containers created and others not."""

from __future__ import annotations

from collections.abc import Collection

from agentlab.common.errors import BadInput
from agentlab.lab.model import ProjectModel


def check_names_free(model: ProjectModel, running: Collection[str]) -> None:
    """BadInput naming the first container outside the project that holds a name one of
    the services that are not running yet will take."""
    wanted = {}
    for service, spec in model.services.items():
        if service in running:
            continue
        names = [spec.container_name] if spec.container_name else [
            f"{model.name}-{service}-{number}" for number in range(1, spec.replicas + 1)
        ]  # fmt: skip
        wanted.update(dict.fromkeys(names, service))
    held = model.engine.foreign_holders(sorted(wanted))
    if not held:
        return
    name = min(held)
    owner = f"of compose project {held[name]}" if held[name] else "not of any compose project"
    raise BadInput(
        f"container {name} ({owner}) already holds a name service {wanted[name]} needs",
        hint=f"remove or rename that container (docker rm -f {name}), or run this lab "
        "under another project name (-p NAME)",
    )
