"""Rollouts left unfinished: interrupted (their process is gone) or paused. Every command
names them, and nothing that would recreate their replicas runs over them."""

from __future__ import annotations

import os

from agentlab.common.errors import InterruptedRollout
from agentlab.common.processes import pid_alive
from agentlab.common.words import counted
from agentlab.state.history import History, JournalEntry


def interrupted(history: History, service: str | None = None) -> list[JournalEntry]:
    """Unfinished rollouts whose process is gone (paused ones included: they wait for you)."""
    return [
        entry
        for entry in history.unfinished(service)
        if entry.state == "paused" or not pid_alive(entry.pid) or entry.pid == os.getpid()
    ]


def describe_unfinished(entry: JournalEntry) -> str:
    """One line naming an unfinished rollout and where it stopped: the steps done, and
    those begun and not done (a removal runs beside the next steps)."""
    done = sum(1 for step in entry.steps if step.get("status") == "done")
    what = "is paused" if entry.state == "paused" else "was interrupted"
    change = f"{entry.from_version} -> {entry.to_version}"
    if entry.from_config is not None:
        change = f"{entry.from_version} (configuration edited)"
    begun = len(entry.steps) - done
    where = counted(done, "step") + (f", {begun} more under way" if begun else "")
    return f"the rollout of {entry.service} {change} {what} after {where}"


def refuse_over_unfinished(history: History, service: str | None = None) -> None:
    """InterruptedRollout for an unfinished rollout (of `service`, else of any)."""
    for entry in interrupted(history, service):
        name = entry.service
        hint = f"agentlab rollout resume {name}, or agentlab rollout undo {name}"
        raise InterruptedRollout(describe_unfinished(entry), hint=hint)
