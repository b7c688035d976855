"""What an unfinished rollout's journal says: the replicas it had begun to remove."""

from __future__ import annotations

from typing import Any

from agentlab.lab.unfinished import being_removed
from agentlab.state.history_records import JournalEntry


def entry(*steps: tuple[str, str, dict[str, Any]]) -> JournalEntry:
    recorded = [
        {"index": i, "action": action, "status": status, "detail": detail}
        for i, (action, status, detail) in enumerate(steps, 1)
    ]
    return JournalEntry("r1", "web", "1.0", "2.0", "w:1.0", "w:2.0", 1, "running", recorded,
                        "", "", 0)  # fmt: skip


def test_the_replicas_of_removals_begun_and_not_done() -> None:
    found = entry(
        ("start", "done", {"count": 1}),
        ("remove-old", "done", {"ids": ["gone"]}),
        ("start", "begin", {"count": 1}),
        ("remove-old", "begin", {"ids": ["draining"]}),
        ("remove-surplus", "begin", {"ids": ["extra", "more"]}),
    )
    assert being_removed(found) == ["draining", "extra", "more"]
    assert being_removed(entry(("start", "begin", {"count": 1}))) == []
