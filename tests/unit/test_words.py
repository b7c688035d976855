"""Counted nouns in the lines people read."""

from __future__ import annotations

from agentlab.common.words import counted
from agentlab.rollout.events import RolloutStarted


def test_one_replica_is_not_replicas() -> None:
    assert [counted(n, "replica") for n in (0, 1, 3)] == ["0 replicas", "1 replica", "3 replicas"]
    started = RolloutStarted("db", "1.0.0", "1.1.0", 1, "rolling", "stop-first")
    assert started.line() == "rollout db 1.0.0 -> 1.1.0 (1 replica; stop-first)"
