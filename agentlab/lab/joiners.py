"""Services that join another's network namespace (`network_mode: service:X`).

Docker resolves `service:X` to one container of X when it creates the joiner; once that
container is replaced (a rollout, a rollback, a scale down) the joiner is left in a
namespace nobody else is in, and can never start again ("No such container"). Compose
recreates the joiner after X's container changed, so agentlab asks Compose to, for the
joiners only (`up --no-deps`): a joiner whose container still matches is left alone.
"""

from __future__ import annotations

from agentlab.lab.model import ProjectModel


def joiners(model: ProjectModel, service: str) -> tuple[str, ...]:
    """The services that join `service`'s network, in compose order."""
    return tuple(name for name, spec in model.services.items() if spec.network_parent == service)


def rejoin(model: ProjectModel, service: str) -> tuple[str, ...]:
    """Recreate the joiners of `service` on its current container; the ones Compose
    recreated (one still on a container of `service` that stayed is left alone)."""
    found = joiners(model, service)
    if not found:
        return ()
    before = _containers(model, found)
    model.engine.up(list(found), deps=False)
    after = _containers(model, found)
    return tuple(name for name in found if after[name] != before[name])


def _containers(model: ProjectModel, services: tuple[str, ...]) -> dict[str, set[str]]:
    return {name: {r.id for r in model.engine.replicas(name)} for name in services}
