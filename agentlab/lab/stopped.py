"""What replaces or adds a service's running replicas (`scale`, and every rollout:
`rollout` and its dry run, `rollback`, `promote`, any strategy) refuses a service none of
whose replicas runs: it would start it outside `up`, alone, without what it depends on."""

from __future__ import annotations

from agentlab.common.errors import BadInput
from agentlab.lab import locking
from agentlab.lab.model import ProjectModel


def refuse_stopped(
    model: ProjectModel, service: str, replicas: int, version: str | None = None
) -> None:
    """BadInput, before anything changes, when `replicas` of `service` (0: nothing starts)
    would start while the project is down, or while none of the replicas its saved count
    wants runs (a reboot, `docker stop`; one running is enough: a rollout replaces the
    others). The hint: `up`, which starts it at `version` when given."""
    if not replicas:
        return
    found = model.engine.replicas()
    running = {r.service for r in found if r.running}
    if service in running or (running and not model.service(service).replicas):
        return  # scaled to 0 in a running project: scale starts it beside what runs
    up = f"{locking.command(model)} up"
    hint = f"{up} --set {service}={version} starts it at {version}" if version else f"{up} first"
    stopped = sum(1 for r in found if r.service == service)
    said = f"{service} has no running replica" + (f" ({stopped} stopped)" if stopped else "")
    raise BadInput(said if running else f"the project is down: {said}", hint=hint)
