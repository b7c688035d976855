"""Rollouts left unfinished: interrupted (their process is gone) or paused. Every command
names them, and nothing that would recreate their replicas runs over them."""

from __future__ import annotations

import os

from agentlab.common.errors import InterruptedRollout
from agentlab.common.words import counted
from agentlab.rollout.journal import resume_hint
from agentlab.rollout.runner import ROLLBACK_LABEL
from agentlab.state.history import History
from agentlab.state.history_records import JournalEntry


def interrupted(history: History, service: str | None = None) -> list[JournalEntry]:
    """Unfinished rollouts whose process is gone (paused ones included: they wait for you)."""
    return [
        entry
        for entry in history.unfinished(service)
        if entry.state == "paused" or not entry.owner_alive() or entry.pid == os.getpid()
    ]


def rolling_back(entry: JournalEntry) -> bool:
    """Whether the rollout had failed and was rolling back (its rollback's steps begun)."""
    return any(
        str(step["detail"].get("description", "")).startswith(ROLLBACK_LABEL)
        for step in entry.steps
    )


def describe_unfinished(entry: JournalEntry) -> str:
    """One line naming an unfinished rollout and where it stopped: the steps done, and
    those begun and not done (a removal runs beside the next steps)."""
    done = sum(1 for step in entry.steps if step.get("status") == "done")
    what = "is paused" if entry.state == "paused" else "was interrupted"
    if rolling_back(entry):  # resume finishes the rollback: it never goes forward again
        what = f"failed and {what} while rolling back"
    change = f"{entry.from_version} -> {entry.to_version}"
    if entry.from_config is not None:
        change = f"{entry.from_version} (configuration edited)"
    begun = len(entry.steps) - done
    where = counted(done, "step") + (f", {begun} more under way" if begun else "")
    return f"the rollout of {entry.service} {change} {what} after {where}"


def left_line(entry: JournalEntry) -> str:
    """An unfinished rollout and what to do about it, in one line."""
    return f"{describe_unfinished(entry)} (hint: {resume_hint(entry.service)})"


def being_removed(entry: JournalEntry) -> list[str]:
    """The replicas an unfinished rollout had begun to remove and not finished removing
    (out of the name, waiting out the delay, or with a stop the engine still carries out)."""
    removals = ("remove-old", "remove-surplus")
    return [
        replica_id
        for step in entry.steps
        if step.get("action") in removals and step.get("status") != "done"
        for replica_id in step["detail"].get("ids", [])
    ]


def refuse_over_unfinished(history: History, service: str | None = None) -> None:
    """InterruptedRollout for an unfinished rollout (of `service`, else of any)."""
    for entry in interrupted(history, service):
        raise InterruptedRollout(describe_unfinished(entry), hint=resume_hint(entry.service))
