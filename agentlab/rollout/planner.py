"""The pure rollout planner: observed replicas + settings -> the next step.

It is state-based, like a Kubernetes deployment controller: give it the replicas that
exist now (old image, target image, ready or not) and it answers what to do next. A
runner that crashed just observes again and continues; `plan` simulates the loop for
`--dry-run`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from agentlab.common.errors import BadInput
from agentlab.common.words import counted
from agentlab.rollout.settings import RolloutSettings


@dataclass(frozen=True)
class ReplicaView:
    """What the planner needs to know of one replica. `failed` marks a new replica whose
    failure was tolerated (max_failure_ratio, failure_action continue): it keeps its slot."""

    id: str
    ready: bool
    failed: bool = False

    @property
    def settled(self) -> bool:
        return self.ready or self.failed


@dataclass(frozen=True)
class Budget:
    """Resolved surge and unavailable counts for a number of desired replicas."""

    surge: int
    unavailable: int


@dataclass(frozen=True)
class StartNew:
    count: int


@dataclass(frozen=True)
class RemoveOld:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class RemoveSurplus:
    """Remove new replicas beyond the desired count (left over by an interrupted run)."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class Wait:
    """Wait for `count` new replicas to become ready."""

    count: int


@dataclass(frozen=True)
class Delay:
    """Pause between batches (update_config.delay)."""

    seconds: float


@dataclass(frozen=True)
class Monitor:
    """Watch the new replicas for the rest of their monitor window before finishing."""

    seconds: float


@dataclass(frozen=True)
class Done:
    pass


Action = StartNew | RemoveOld | RemoveSurplus | Wait | Done
Step = Action | Delay | Monitor


@dataclass(frozen=True)
class PlannedStep:
    """One step of a dry-run plan and the container counts after it."""

    number: int
    step: Step
    containers: int
    ready: int

    def line(self) -> str:
        counts = f"{counted(self.containers, 'container')}, {self.ready} ready"
        return f"{self.number}. {describe(self.step)} ({counts})"


def budget(desired: int, settings: RolloutSettings) -> Budget:
    """Surge and unavailable counts: Compose's parallelism/order when either is set,
    else max_surge (percentages round up) and max_unavailable (round down), like k8s."""
    if settings.parallelism is not None or settings.order is not None:
        batch = settings.parallelism if settings.parallelism is not None else 1
        batch = desired if batch == 0 else batch
        if settings.order == "start-first":
            resolved = Budget(surge=batch, unavailable=0)
        else:
            resolved = Budget(surge=0, unavailable=batch)
    else:
        resolved = Budget(
            surge=_resolve(settings.max_surge, desired, math.ceil),
            unavailable=min(desired, _resolve(settings.max_unavailable, desired, math.floor)),
        )
    if desired > 0 and resolved.surge == 0 and resolved.unavailable == 0:
        raise BadInput(
            f"max surge {settings.max_surge} and max unavailable {settings.max_unavailable} "
            f"both resolve to 0 for {desired} replicas: the rollout could never progress",
            hint="allow at least one: --max-surge 1 or --max-unavailable 1",
        )
    return resolved


def _resolve(value: str, desired: int, rounding: Callable[[float], int]) -> int:
    if value.endswith("%"):
        return rounding(int(value[:-1]) * desired / 100)
    return int(value)


def next_actions(
    desired: int,
    old: Sequence[ReplicaView],
    new: Sequence[ReplicaView],
    settings: RolloutSettings,
) -> Action:
    """The next step towards `desired` settled new replicas and no old ones.

    `old` and `new` come in removal preference order (oldest first). Never exceeds
    desired + surge containers by starting, never removes a ready replica when that
    would leave fewer than desired - unavailable ready (failed new ones count as
    settled), and removes not-ready old replicas first."""
    if len(new) > desired:
        surplus = sorted(new, key=lambda view: (view.ready, not view.failed))
        return RemoveSurplus(tuple(view.id for view in surplus[: len(new) - desired]))
    if settings.strategy == "recreate":
        return _recreate(desired, old, new)
    allowance = budget(desired, settings)
    room = min(desired + allowance.surge - len(old) - len(new), desired - len(new))
    if room > 0:
        return StartNew(room)
    unready_old = [view.id for view in old if not view.ready]
    ready_old = [view.id for view in old if view.ready]
    available = len(ready_old) + sum(view.settled for view in new)
    spare = max(0, available - (desired - allowance.unavailable))
    doomed = unready_old + ready_old[:spare]
    if doomed:
        return RemoveOld(tuple(doomed))
    return _wait_or_done(new)


def _recreate(desired: int, old: Sequence[ReplicaView], new: Sequence[ReplicaView]) -> Action:
    """Stop every old replica, then start every new one."""
    if old:
        return RemoveOld(tuple(view.id for view in old))
    if len(new) < desired:
        return StartNew(desired - len(new))
    return _wait_or_done(new)


def _wait_or_done(new: Sequence[ReplicaView]) -> Action:
    waiting = sum(not view.settled for view in new)
    return Wait(waiting) if waiting else Done()


def at_batch_boundary(
    desired: int, old: Sequence[ReplicaView], new: Sequence[ReplicaView], settings: RolloutSettings
) -> bool:
    """Whether the last batch has settled (desired containers, all ready): where
    update_config.delay pauses before the next batch."""
    if settings.strategy != "rolling" or settings.delay <= 0:
        return False
    return len(old) + len(new) == desired and all(view.settled for view in [*old, *new])


def describe(step: Step, back: bool = False) -> str:
    """A short human description of a step (`back`: of a rollback, an undo or an abort,
    where the replicas it removes are the newer ones)."""
    match step:
        case StartNew(count):
            return f"start {count} new"
        case RemoveOld(ids):
            return f"drain and remove {len(ids)} {'new' if back else 'old'}"
        case RemoveSurplus(ids):
            return f"drain and remove {len(ids)} surplus new"
        case Wait(count):
            return f"wait for {_replicas(count, 'new')} ready"
        case Delay(seconds):
            return f"wait {seconds:g}s before the next batch"
        case Monitor(seconds):
            return f"monitor new replicas for {seconds:g}s"
        case Done():
            return "done"


def _replicas(count: int, kind: str) -> str:
    return f"{count} {kind} replica{'' if count == 1 else 's'}"


def summarize(desired: int, settings: RolloutSettings) -> str:
    """The settings in one line, with the budget resolved for `desired` replicas."""
    parts: list[str] = [settings.strategy]
    if settings.strategy == "rolling":
        allowance = budget(desired, settings)
        parts.append(f"max surge {allowance.surge}, max unavailable {allowance.unavailable}")
        if settings.parallelism is not None or settings.order is not None:
            batch = "all" if settings.parallelism == 0 else settings.parallelism or 1
            parts.append(f"parallelism {batch}, {settings.order or 'stop-first'}")
        if settings.delay:
            parts.append(f"delay {settings.delay:g}s")
    parts.append(f"failure action {settings.failure_action}")
    if settings.max_failure_ratio:
        parts.append(f"max failure ratio {settings.max_failure_ratio:g}")
    parts.append(f"monitor {settings.monitor:g}s, progress deadline {settings.timeout:g}s")
    return "; ".join(parts)


def plan(desired: int, settings: RolloutSettings) -> list[PlannedStep]:
    """Simulate a rollout of `desired` ready old replicas, assuming every new replica
    turns ready: the steps `agentlab rollout --dry-run` prints."""
    old = [ReplicaView(f"old-{n}", ready=True) for n in range(1, desired + 1)]
    new: list[ReplicaView] = []
    steps: list[Step] = []
    counts: list[tuple[int, int]] = []

    def record(step: Step) -> None:
        steps.append(step)
        counts.append((len(old) + len(new), sum(v.ready for v in [*old, *new])))

    while not isinstance(action := next_actions(desired, old, new, settings), Done):
        if steps and at_batch_boundary(desired, old, new, settings):
            record(Delay(settings.delay))
        match action:
            case StartNew(count):
                new += [ReplicaView(f"new-{len(new) + n}", ready=False) for n in range(count)]
            case RemoveOld(ids):
                old = [view for view in old if view.id not in ids]
            case RemoveSurplus(ids):
                new = [view for view in new if view.id not in ids]
            case Wait():
                new = [replace(view, ready=True) for view in new]
        record(action)
    if settings.monitor > 0 and steps:
        record(Monitor(settings.monitor))
    return [
        PlannedStep(number, step, containers, ready)
        for number, (step, (containers, ready)) in enumerate(zip(steps, counts, strict=True), 1)
    ]
