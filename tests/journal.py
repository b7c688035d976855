"""Reading the rollout journal of a History by rollout id, for tests that check what the
runner wrote (agentlab itself only ever asks for the unfinished entries)."""

from __future__ import annotations

from agentlab.state.history import History
from agentlab.state.history_records import JournalEntry, entry_of


def journal_entry(history: History, rollout_id: str) -> JournalEntry | None:
    rows = history._rows("SELECT * FROM rollouts WHERE id = ?", (rollout_id,))
    return entry_of(rows[0], history._steps(rollout_id)) if rows else None
