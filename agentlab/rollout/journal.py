"""How a rollout ends, and the journal the runner writes before each step.

`agentlab.state.history.History` implements `Journal` in SQLite; the runner only needs
these three calls, so an interrupted rollout can be found and continued from its steps.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, get_args

# How a rollout ended; anything but the SUCCEEDED ones exits 1.
Outcome = Literal["complete", "rolled-back", "paused", "failed", "undone"]
SUCCEEDED: tuple[Outcome, ...] = ("complete", "undone")  # undone: an undo that worked
# A journal entry is running until it ends with an outcome.
JournalState = Literal["running"] | Outcome


def resume_hint(service: str) -> str:
    """What to do about an unfinished rollout of `service`."""
    return f"agentlab rollout resume {service}, or agentlab rollout undo {service}"


JOURNAL_STATES: tuple[str, ...] = ("running", *get_args(Outcome))
UNFINISHED: tuple[JournalState, ...] = ("running", "paused")


class Journal(Protocol):
    """The rollout journal hooks the runner writes."""

    def step_begin(self, rollout_id: str, index: int, action: str, detail: dict[str, Any]) -> None:
        """Record that step `index` is about to run."""

    def step_done(self, rollout_id: str, index: int) -> None:
        """Record that step `index` finished."""

    def set_rollout_state(self, rollout_id: str, state: JournalState) -> None:
        """Record the rollout's state (`running` at the start, the outcome at the end)."""


class NoJournal:
    """For a run that is no rollout (a scale): nothing to resume, nothing recorded."""

    def step_begin(self, rollout_id: str, index: int, action: str, detail: dict[str, Any]) -> None:
        """Nothing recorded."""

    def step_done(self, rollout_id: str, index: int) -> None:
        """Nothing recorded."""

    def set_rollout_state(self, rollout_id: str, state: JournalState) -> None:
        """Nothing recorded."""
