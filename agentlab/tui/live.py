"""Container events applied to the last status, so the screen follows Docker at once.

Docker's event stream is the source of truth between status reads: a `die` shows as
exited, a `start` as running, a `health_status: X` as health X, a `destroy` removes the
row and the replica's drift. Events that need the full picture (a `create`, a container
not shown yet) change nothing here; the status read each event also requests fills them
in and reconciles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import reduce

from agentlab.engine.model import EngineEvent, Replica
from agentlab.lab.drift import Drift
from agentlab.lab.status import LabStatus

HEALTH_PREFIX = "health_status:"


def _exited(replica: Replica, event: EngineEvent) -> Replica | None:
    code = event.attributes.get("exitCode", "")
    exit_code = int(code) if code.lstrip("-").isdigit() else replica.exit_code
    return replace(replica, state="exited", exit_code=exit_code)


def _started(replica: Replica, event: EngineEvent) -> Replica | None:
    """Running from the event's time; a healthcheck starts over. A replica already shown
    running stays as it is: the event is older than the status."""
    if replica.running:
        return replica
    health = "starting" if replica.has_healthcheck else None
    return replace(replica, state="running", health=health, started_at=event.time)


def _state(state: str) -> Callable[[Replica, EngineEvent], Replica | None]:
    return lambda replica, _event: replace(replica, state=state)


def _destroyed(_replica: Replica, _event: EngineEvent) -> Replica | None:
    return None


# `kill` is only a signal sent (`docker stop` sends SIGTERM, then waits): `die` tells the exit.
CHANGES: dict[str, Callable[[Replica, EngineEvent], Replica | None]] = {
    "die": _exited,
    "stop": _exited,
    "start": _started,
    "restart": _started,
    "pause": _state("paused"),
    "unpause": _state("running"),
    "destroy": _destroyed,
}


def changed_replica(replica: Replica, event: EngineEvent) -> Replica | None:
    """The replica after `event` (None once destroyed); unchanged for other actions."""
    if event.action.startswith(HEALTH_PREFIX):
        health = event.action.removeprefix(HEALTH_PREFIX).strip()
        return replace(replica, health=health) if replica.running else replica
    change = CHANGES.get(event.action)
    return change(replica, event) if change else replica


def apply_event(status: LabStatus, event: EngineEvent) -> LabStatus:
    """`status` with `event` applied to the container it names; `status` itself when
    that changes nothing (a container not shown, an action that shows no change)."""
    for index, service in enumerate(status.services):
        for replica in service.replicas:
            if replica.id != event.container_id:
                continue
            after = changed_replica(replica, event)
            if after == replica:
                return status
            replicas = [after if r is replica else r for r in service.replicas]
            services = list(status.services)
            services[index] = replace(service, replicas=[r for r in replicas if r is not None])
            if after is None:
                return replace(status, services=services, drift=_without(status, replica))
            return replace(status, services=services)
    return status


def _without(status: LabStatus, gone: Replica) -> tuple[Drift, ...]:
    """The status's drift but that of a replica destroyed since (the replica is gone)."""
    return tuple(d for d in status.drift if (d.service, d.subject) != (gone.service, gone.name))


def apply_events(status: LabStatus, events: Iterable[EngineEvent]) -> LabStatus:
    return reduce(apply_event, events, status)
