"""The lab as `status` shows it: every service and replica, with digests where known, and
the drift from what was decided."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agentlab.engine.model import Replica
from agentlab.lab.canaries import CanaryView
from agentlab.lab.drift import Drift
from agentlab.lab.drift_reading import journal_mark, read_drift
from agentlab.lab.model import ProjectModel
from agentlab.lab.unfinished import describe_unfinished, interrupted
from agentlab.rollout.availability import serves
from agentlab.rollout.journal import resume_hint


@dataclass(frozen=True)
class ServiceStatus:
    """One service as `status` shows it."""

    name: str
    managed: bool
    image: str | None
    desired: int
    replicas: list[Replica]
    blockers: list[str]
    job: bool = False  # another service waits for it to complete: it exits 0 once done

    @property
    def ready(self) -> int:
        """Replicas that serve: ready, and not out of the service's name (an interrupted
        rollout's: status showed 4/3 while one of them answered nothing)."""
        return sum(1 for r in self.replicas if serves(r, name_when_ready=True))


@dataclass(frozen=True)
class RunningElsewhere:
    """A rollout another agentlab process runs now (its journal entry is unfinished and its
    process lives): what a view can say of it, as it cannot control it."""

    service: str
    from_version: str
    to_version: str
    pid: int

    def line(self) -> str:
        change = f"{self.service} {self.from_version} -> {self.to_version}"
        return f"the rollout of {change} runs in another agentlab process (pid {self.pid})"


@dataclass(frozen=True)
class StoppedRollout:
    """A rollout left unfinished (interrupted, or paused): it waits for `rollout resume`
    or `undo`, and nothing that would recreate its replicas runs meanwhile."""

    service: str
    state: str  # "paused" or "interrupted"
    from_version: str
    to_version: str
    line: str  # what every command warns of it
    hint: str


@dataclass(frozen=True)
class LabStatus:
    """Every service and replica of the project, read at `taken_at`."""

    project: str
    services: list[ServiceStatus]
    digests: Mapping[str, str | None] = field(default_factory=dict)
    taken_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    canaries: Mapping[str, CanaryView] = field(default_factory=dict)  # running or unfinished
    drift: tuple[Drift, ...] = ()
    unchecked: tuple[str, ...] = ()  # services whose drift was not read (a rollout of theirs)
    elsewhere: tuple[RunningElsewhere, ...] = ()  # rollouts other processes run now
    stopped: tuple[StoppedRollout, ...] = ()  # rollouts left unfinished

    @property
    def rolling(self) -> frozenset[str]:
        """The services whose rollout another agentlab process is running now."""
        return frozenset(rollout.service for rollout in self.elsewhere)

    def drift_of(self, subject: str) -> Drift | None:
        """The drift of a replica (by name) or a tag, if any."""
        return next((d for d in self.drift if d.subject == subject), None)


def read_status(model: ProjectModel, replicas: list[Replica] | None = None) -> LabStatus:
    """Every service and replica (of `replicas` when just observed, else read now)."""
    mark = None
    if replicas is None:
        mark = journal_mark(model)
        replicas = model.engine.replicas()
    managed = set(model.managed)
    pins = model.pins(strict=False)
    by_service: dict[str, list[Replica]] = {name: [] for name in model.services}
    for replica in replicas:
        by_service.setdefault(replica.service, []).append(replica)
    services = []
    for name, members in by_service.items():
        spec = model.services.get(name)
        services.append(
            ServiceStatus(
                name=name,
                managed=name in managed,
                image=pins.get(name) or (spec.image if spec else None),
                desired=spec.replicas if spec else 0,
                replicas=members,
                blockers=spec.surge_blockers() if spec else [],
                job=spec.job if spec else False,
            )
        )
    digests = model.engine.digests([r.image_id for r in replicas if r.image_id])
    report = read_drift(model, replicas, True, mark)  # no registry, no other env
    elsewhere, stopped = _unfinished(model)
    return LabStatus(model.name, services, digests, drift=report.drifts, unchecked=report.busy,
                     elsewhere=elsewhere, stopped=stopped)  # fmt: skip


def _unfinished(
    model: ProjectModel,
) -> tuple[tuple[RunningElsewhere, ...], tuple[StoppedRollout, ...]]:
    """The rollouts under way in another live process, and those left unfinished."""
    if not model.has_history():
        return (), ()
    history = model.history()
    left = interrupted(history)
    stopped = tuple(
        StoppedRollout(
            e.service,
            "paused" if e.state == "paused" else "interrupted",
            e.from_version,
            e.to_version,
            describe_unfinished(e),
            resume_hint(e.service),
        )
        for e in left
    )
    ids = {entry.rollout_id for entry in left}
    elsewhere = tuple(
        RunningElsewhere(e.service, e.from_version, e.to_version, e.pid)
        for e in history.unfinished()
        if e.rollout_id not in ids
    )
    return elsewhere, stopped
