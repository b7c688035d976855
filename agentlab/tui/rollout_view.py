"""Folds the runner's RolloutEvents into what the rollout panel shows.

The events are the ones the CLI prints: one source of truth for progress.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from agentlab.rollout.events import (
    Paused,
    ReplicaCounts,
    ReplicaFailed,
    RollbackStarted,
    RolloutEvent,
    RolloutFinished,
    RolloutStarted,
    StepStarted,
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

    @property
    def running(self) -> bool:
        return self.outcome is None

    @property
    def title(self) -> str:
        verb = "Rolling back" if self.rolling_back else "Rolling out"
        return f"{verb} {self.service}: {self.from_version or '?'} → {self.to_version}"


def advance(view: RolloutView | None, event: RolloutEvent) -> RolloutView | None:
    """The view after one more event (a RolloutStarted begins a fresh view)."""
    if isinstance(event, RolloutStarted):
        return RolloutView(
            event.service, event.from_version, event.to_version, event.desired, event.settings
        )
    if view is None:
        return None
    if isinstance(event, StepStarted):
        return replace(view, step=f"{event.index}. {event.description}")
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
