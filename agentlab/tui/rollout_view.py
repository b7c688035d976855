"""Folds the runner's RolloutEvents into what the rollout panel shows.

The events are the ones the CLI prints: one source of truth for progress.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from agentlab.rollout.canary import step_line
from agentlab.rollout.canary_requests import HELD
from agentlab.rollout.events import (
    GateChecked,
    Paused,
    ReplicaCounts,
    ReplicaFailed,
    RollbackStarted,
    RolloutEvent,
    RolloutFinished,
    RolloutStarted,
    StepStarted,
    WeightSet,
)
from agentlab.rollout.journal import SUCCEEDED

STYLES: dict[type[RolloutEvent], str] = {
    RolloutStarted: "bold",
    ReplicaFailed: "red",
    RollbackStarted: "bold red",
    Paused: "yellow",
}


@dataclass(frozen=True)
class RolloutView:
    """The latest known state of one rollout."""

    service: str
    from_version: str
    to_version: str
    desired: int
    settings: str
    step: str = "starting"
    ready: int = 0
    total: int = 0
    updated: int = 0
    rolling_back: bool = False
    outcome: str | None = None
    message: str = ""
    strategy: str = "rolling"
    # A canary or blue-green: its steps, the one it is in (0-based; -1 before the first),
    # the new version's share of requests, and each gate's last reading.
    canary_steps: tuple[str, ...] = ()
    canary_at: int = -1
    weight: int | None = None
    weight_exact: bool = True
    gates: tuple[tuple[str, str, str], ...] = ()  # (gate, verdict, reading)
    held: str = ""  # the step of a weight set by hand, once one is (`set weight 30% ...`)
    undo: bool = False  # `rollout undo`: back to to_version

    @property
    def progressive(self) -> bool:
        return self.strategy in ("canary", "blue-green")

    @property
    def running(self) -> bool:
        return self.outcome is None

    @property
    def title(self) -> str:
        if self.undo:
            return f"Undoing {self.service}: back to {self.to_version or 'its previous image'}"
        verb = "Rolling back" if self.rolling_back else "Rolling out"
        if not self.from_version:
            return f"{verb} {self.service}: → {self.to_version} (from an unknown version)"
        return f"{verb} {self.service}: {self.from_version} → {self.to_version}"


def advance(view: RolloutView | None, event: RolloutEvent) -> RolloutView | None:
    """The view after one more event (a RolloutStarted begins a fresh view)."""
    if isinstance(event, RolloutStarted):
        progressive = event.strategy in ("canary", "blue-green")
        steps = tuple(event.settings.split(" -> ")) if progressive else ()
        return RolloutView(
            event.service, event.from_version, event.to_version, event.desired, event.settings,
            strategy=event.strategy, canary_steps=steps, undo=event.undo,
        )  # fmt: skip
    if view is None:
        return None
    if isinstance(event, StepStarted):
        step = f"{event.index}. {event.description}"
        line = step_line(event.description) or event.description
        if view.progressive and line.endswith(HELD):
            return replace(view, step=step, held=line)
        if view.progressive and line in view.canary_steps[view.canary_at + 1 :]:
            at = view.canary_steps.index(line, view.canary_at + 1)
            return replace(view, step=step, canary_at=at)
        return replace(view, step=step)
    if isinstance(event, WeightSet):
        return replace(view, weight=event.percent, weight_exact=event.exact)
    if isinstance(event, GateChecked):
        others = tuple(g for g in view.gates if g[0] != event.gate)
        return replace(view, gates=(*others, (event.gate, event.verdict, event.reading)))
    if isinstance(event, ReplicaCounts):
        return replace(
            view, ready=event.ready, total=event.total, updated=event.updated, desired=event.desired
        )
    if isinstance(event, RollbackStarted):
        return replace(view, rolling_back=True, step=f"rolling back: {event.reason}")
    if isinstance(event, Paused):
        return replace(view, step=f"paused: {event.reason}")
    if isinstance(event, RolloutFinished):
        return replace(view, outcome=event.outcome, message=event.message)
    return view


def line_style(event: RolloutEvent) -> str:
    """The colour of an event's line in the log: failures red, the outcome by its kind."""
    if isinstance(event, RolloutFinished):
        return "bold green" if event.outcome in SUCCEEDED else "bold red"
    return STYLES.get(type(event), "")
