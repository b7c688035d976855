"""What interrupts a canary's steps (an abort, a promote or weight asked for, a pause),
as exceptions the canary runner catches, and the journal as the canary's inner rolling runs
see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentlab.rollout.journal import Journal, JournalState


@dataclass
class StepJournal:
    """The journal as a canary's inner runs see it: their steps are the canary's, their
    start and end are not (the canary records its own state)."""

    journal: Journal
    last: int = 0

    def step_begin(self, rollout_id: str, index: int, action: str, detail: dict[str, Any]) -> None:
        self.last = max(self.last, index)
        self.journal.step_begin(rollout_id, index, action, detail)

    def step_done(self, rollout_id: str, index: int) -> None:
        self.journal.step_done(rollout_id, index)

    def set_rollout_state(self, rollout_id: str, state: JournalState) -> None:
        """The canary's own state is recorded by the canary."""


class Aborted(Exception):
    """The canary stops: every request back to stable, canary replicas removed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PromoteAsked(Exception):
    """`agentlab promote`: skip to 100 %."""


class WeightAsked(Exception):
    """`agentlab weight`: this weight now, then hold."""

    def __init__(self, percent: int) -> None:
        super().__init__(percent)
        self.percent = percent


class PauseAsked(Exception):
    """A pause was asked for (the TUI's `p`, or quitting it): stop where it is, resumable."""
