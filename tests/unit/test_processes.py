"""A pid that a later process reuses is not the process that wrote it: the journal's
rollout owner and the lock's holder count as alive only if they started before they
last wrote."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from agentlab.common.durations import rfc3339
from agentlab.common.processes import pid_alive, process_start
from agentlab.state.history_records import JournalEntry
from agentlab.state.lock import lock_held, project_lock

STARTED = process_start(os.getpid())
BEFORE_US = (STARTED or time.time()) - 3600  # an hour before this process started


def test_this_process_started_before_now_and_after_an_hour_ago() -> None:
    assert STARTED is not None and time.time() >= STARTED
    assert pid_alive(os.getpid()) and pid_alive(os.getpid(), started_by=time.time())
    assert not pid_alive(os.getpid(), started_by=BEFORE_US)  # the pid was reused since


def test_a_rollout_owner_that_wrote_before_its_pid_started_is_gone() -> None:
    entry = JournalEntry(
        "r1", "agent", "1.0", "1.1", "agent:1.0", "agent:1.1", 2, "running", [],
        started_at="2026-01-01T00:00:00.000Z", updated_at=rfc3339_of(time.time()),
        pid=os.getpid(),
    )  # fmt: skip
    assert entry.owner_alive()
    assert not replace(entry, updated_at=rfc3339_of(BEFORE_US)).owner_alive()


def test_a_lock_record_older_than_its_pid_is_no_holder(tmp_path: Path) -> None:
    with project_lock(tmp_path, "rollout agent --to 1.1"):
        assert lock_held(tmp_path)
        os.utime(tmp_path / "lock", (BEFORE_US, BEFORE_US))  # as a dead holder left it
        assert not lock_held(tmp_path)


def rfc3339_of(at: float) -> str:
    return rfc3339(datetime.fromtimestamp(at, UTC))
