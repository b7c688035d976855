"""Reading the rollout journal of a History by rollout id, for tests that check what the
runner wrote (agentlab itself only ever asks for the unfinished entries)."""

from __future__ import annotations

from agentlab.state.history import History, JournalEntry


def journal_entry(history: History, rollout_id: str) -> JournalEntry | None:
    rows = history._rows("SELECT * FROM rollouts WHERE id = ?", (rollout_id,))
    return history._entry(rows[0]) if rows else None
