"""A rollout whose rollback fails too ends for good (its journal entry is closed): the
replicas it left out of the service's name join it, and the hint names a command that
works (resume and undo would find nothing to continue)."""

from __future__ import annotations

import pytest

from tests.conftest import LabRun

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("demo_images")]


def test_a_failed_rollback_leaves_every_running_replica_in_the_name(demo_lab: LabRun) -> None:
    up = demo_lab("up", "--version", "1.5.0")  # a slow starter: 8 s before it listens
    assert up.code == 0, up.err
    # stop-first: an old replica goes first; 1.4.0 never turns healthy, and the rollback's
    # 1.5.0 replica cannot be ready within the 4 s deadline either
    failed = demo_lab("rollout", "agent", "--to", "1.4.0", "--max-surge", "0",
                      "--max-unavailable", "1", "--timeout", "4s")  # fmt: skip
    assert failed.code == 1, failed.err
    (error,) = [line for line in failed.err.splitlines() if line.startswith("error:")]
    assert "the rollback failed too" in error, failed.err
    assert "(hint: agentlab rollout agent --to 1.5.0 (agentlab status shows" in error
    status = demo_lab("status", "--json").json()
    (agent,) = [s for s in status["services"] if s["service"] == "agent"]
    running = [r for r in agent["replicas"] if r["state"] == "running"]
    assert len(running) == 3, running
    assert [r["container"] for r in running if not r["answers_name"]] == []
    assert "answers to agent" in failed.out  # the rollback's replica joined as it ended
    assert demo_lab("rollout", "resume", "agent").code == 2  # nothing left to continue
    again = demo_lab("rollout", "agent", "--to", "1.5.0")  # what the hint says
    assert again.code == 0, again.err
