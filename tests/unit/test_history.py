from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from agentlab.common.errors import OperationFailed
from agentlab.rollout.journal import JournalState
from agentlab.state.history import History
from agentlab.state.history_records import JournalEntry, Revision, RevisionOutcome
from agentlab.state.history_schema import MIGRATIONS, SCHEMA_VERSION
from tests.journal import journal_entry

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "nested" / "history.db"


@pytest.fixture
def history(db_path: Path) -> Iterator[History]:
    with History.open(db_path) as opened:
        yield opened


def add(
    history: History, service: str, version: str, outcome: RevisionOutcome = "complete"
) -> Revision:
    """Record a revision of `service` at `version` and finish it with `outcome`
    (`in-progress`: leave it unfinished)."""
    rev = history.begin_revision(
        service, version, f"lab/{service}:{version}", f"sha256:{version}", None, f"up {version}"
    )
    if outcome != "in-progress":
        history.finish_revision(service, rev.number, outcome)
    return rev


def test_open_creates_parent_dirs_wal_and_schema(db_path: Path, history: History) -> None:
    assert db_path.is_file()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        conn.close()


def test_reopen_keeps_data_and_schema_version(db_path: Path) -> None:
    with History.open(db_path) as first:
        add(first, "agent", "1.2.0")
    with History.open(db_path) as second:
        assert [r.version for r in second.revisions()] == ["1.2.0"]
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        conn.close()


def test_busy_timeout_is_set(db_path: Path) -> None:
    with History.open(db_path, busy_timeout=2.5) as history:
        assert history._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500


def test_newer_schema_is_refused(db_path: Path) -> None:
    History.open(db_path).close()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(OperationFailed) as info:
        History.open(db_path)
    assert info.value.message == (
        f"the history database {db_path} has schema {SCHEMA_VERSION + 1}, newer than this "
        f"agentlab knows ({SCHEMA_VERSION})"
    )
    assert info.value.hint == "upgrade agentlab"


def test_corrupt_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not a database, just some text that is long enough" * 100)
    with pytest.raises(OperationFailed) as info:
        History.open(path)
    assert info.value.message.startswith(f"cannot open the history database {path}: ")
    assert info.value.hint == "move the file aside to start a fresh history"


def test_keep_must_be_positive(db_path: Path) -> None:
    with pytest.raises(ValueError, match="keep must be at least 1, not 0"):
        History.open(db_path, keep=0)


def test_revision_round_trip(history: History) -> None:
    rev = history.begin_revision(
        "agent", "1.3.0", "lab/agent:v1.3.0", "sha256:abc", "sha256:def", "up --version v1.3.0"
    )
    assert rev.number == 1
    assert rev.outcome == "in-progress"
    assert rev.finished_at is None
    assert RFC3339_UTC.fullmatch(rev.started_at)
    assert history.revision("agent", 1) == rev
    assert history.current("agent") is None

    history.finish_revision("agent", 1, "complete")
    done = history.revision("agent", 1)
    assert done is not None
    assert done.outcome == "complete"
    assert done.finished_at is not None
    assert RFC3339_UTC.fullmatch(done.finished_at)
    assert done.started_at <= done.finished_at
    assert (done.image_ref, done.image_id, done.digest) == (
        "lab/agent:v1.3.0",
        "sha256:abc",
        "sha256:def",
    )
    assert done.cause == "up --version v1.3.0"
    assert history.current("agent") == done


def test_numbers_are_per_service_and_ordered(history: History) -> None:
    add(history, "collector", "2.0.0")
    add(history, "agent", "1.2.0")
    add(history, "agent", "1.3.0")
    add(history, "collector", "2.1.0")
    assert [(r.service, r.number, r.version) for r in history.revisions()] == [
        ("agent", 1, "1.2.0"),
        ("agent", 2, "1.3.0"),
        ("collector", 1, "2.0.0"),
        ("collector", 2, "2.1.0"),
    ]
    assert [r.version for r in history.revisions("collector")] == ["2.0.0", "2.1.0"]
    assert history.revisions("nothing") == []
    assert history.revision("agent", 3) is None


def test_finish_revision_rejects_unknown_and_non_final(history: History) -> None:
    add(history, "agent", "1.2.0", "in-progress")
    with pytest.raises(ValueError, match="no revision 7 of agent"):
        history.finish_revision("agent", 7, "complete")
    with pytest.raises(ValueError, match="not a final outcome: 'in-progress'"):
        # "in-progress" is no final Outcome: that finish_revision refuses it is the point.
        history.finish_revision("agent", 1, "in-progress")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a final outcome: 'great'"):
        history.finish_revision("agent", 1, "great")  # type: ignore[arg-type]
    assert history.revisions()[0].outcome == "in-progress"


def test_current_and_previous_skip_failed_and_same_version(history: History) -> None:
    assert history.current("agent") is None
    assert history.previous("agent") is None
    add(history, "agent", "1.2.0")  # 1
    assert history.previous("agent") is None
    add(history, "agent", "1.3.0")  # 2
    add(history, "agent", "1.3.0")  # 3: same version again
    add(history, "agent", "1.4.0", "failed")  # 4
    add(history, "agent", "1.4.0", "rolled-back")  # 5
    add(history, "agent", "1.5.0", "in-progress")  # 6
    current = history.current("agent")
    previous = history.previous("agent")
    assert current is not None
    assert previous is not None
    assert (current.number, current.version) == (3, "1.3.0")
    assert (previous.number, previous.version) == (1, "1.2.0")


def test_previous_after_a_rollback_toggles(history: History) -> None:
    add(history, "agent", "1.2.0")
    add(history, "agent", "1.3.0")
    add(history, "agent", "1.2.0")  # rollback --to-revision 1
    previous = history.previous("agent")
    assert previous is not None
    assert (previous.number, previous.version) == (2, "1.3.0")


def test_prune_keeps_last_revisions_and_never_reuses_numbers(db_path: Path) -> None:
    with History.open(db_path, keep=3) as history:
        for minor in range(6):
            add(history, "agent", f"1.{minor}.0")
        add(history, "collector", "2.0.0")
        assert [r.number for r in history.revisions("agent")] == [4, 5, 6]
        assert [r.number for r in history.revisions("collector")] == [1]
        assert add(history, "agent", "1.9.0").number == 7
        assert [r.number for r in history.revisions("agent")] == [5, 6, 7]


def test_prune_spares_the_current_revision(db_path: Path) -> None:
    with History.open(db_path, keep=2) as history:
        add(history, "agent", "1.2.0")
        for _ in range(3):
            add(history, "agent", "1.3.0", "failed")
        assert [r.number for r in history.revisions("agent")] == [1, 3, 4]
        current = history.current("agent")
        assert current is not None
        assert current.number == 1


def test_failed_write_leaves_nothing(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    add(history, "agent", "1.2.0")

    def broken_prune(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(history, "_prune", broken_prune)
    with pytest.raises(RuntimeError, match="disk on fire"):
        add(history, "agent", "1.3.0", "in-progress")
    assert [r.number for r in history.revisions("agent")] == [1]
    monkeypatch.undo()
    assert add(history, "agent", "1.3.0").number == 2


def test_failed_step_write_rolls_back_the_touch(history: History) -> None:
    rollout_id = history.start_rollout("agent", "1.2.0", "img:1.2.0", "1.3.0", "img:1.3.0", 2, 1)
    before = journal_entry(history, rollout_id)
    assert before is not None
    time.sleep(0.002)
    with pytest.raises(ValueError, match=f"rollout {rollout_id} has no step 4"):
        history.step_done(rollout_id, 4)
    assert journal_entry(history, rollout_id) == before


def test_two_connections_see_each_others_commits(db_path: Path) -> None:
    with History.open(db_path) as one, History.open(db_path) as two:
        add(one, "agent", "1.2.0")
        assert [r.version for r in two.revisions()] == ["1.2.0"]
        assert add(two, "agent", "1.3.0").number == 2
        current = one.current("agent")
        assert current is not None
        assert current.version == "1.3.0"
        rollout_id = two.start_rollout("agent", "1.3.0", "a", "1.4.0", "b", 3, 42)
        one.step_begin(rollout_id, 0, "add", {"count": 1})
        assert two.unfinished()[0].steps == [
            {"index": 0, "action": "add", "detail": {"count": 1}, "status": "begin"}
        ]


def test_a_writer_waits_for_another_process_lock(db_path: Path) -> None:
    with History.open(db_path, busy_timeout=5.0) as history:
        blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, lambda: blocker.execute("COMMIT"))
        release.start()
        started = time.monotonic()
        add(history, "agent", "1.2.0")
        assert time.monotonic() - started >= 0.2
        release.join()
        blocker.close()
        assert len(history.revisions()) == 1


def test_usable_from_another_thread(history: History) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        rev = pool.submit(add, history, "agent", "1.2.0").result()
    assert history.revisions() == [history.revision("agent", rev.number)]


def test_rollout_journal_round_trip(history: History) -> None:
    rollout_id = history.start_rollout(
        "agent", "1.2.0", "lab/agent:1.2.0", "1.3.0", "lab/agent:1.3.0", 2, 4321
    )
    assert re.fullmatch(r"[0-9a-f]{32}", rollout_id)
    history.step_begin(rollout_id, 0, "add", {"count": 1, "image": "lab/agent:1.3.0"})
    history.step_done(rollout_id, 0)
    history.step_begin(rollout_id, 1, "remove", {"containers": ["abc", "def"]})
    entry = journal_entry(history, rollout_id)
    assert entry is not None
    assert RFC3339_UTC.fullmatch(entry.started_at)
    assert entry.started_at <= entry.updated_at
    assert replace(entry, started_at="", updated_at="") == JournalEntry(
        rollout_id=rollout_id,
        service="agent",
        from_version="1.2.0",
        to_version="1.3.0",
        from_image="lab/agent:1.2.0",
        to_image="lab/agent:1.3.0",
        revision_number=2,
        state="running",
        steps=[
            {
                "index": 0,
                "action": "add",
                "detail": {"count": 1, "image": "lab/agent:1.3.0"},
                "status": "done",
            },
            {
                "index": 1,
                "action": "remove",
                "detail": {"containers": ["abc", "def"]},
                "status": "begin",
            },
        ],
        started_at="",
        updated_at="",
        pid=4321,
    )
    assert journal_entry(history, "0" * 32) is None


def test_step_begin_again_resets_a_step(history: History) -> None:
    rollout_id = history.start_rollout("agent", "1.2.0", "a", "1.3.0", "b", 2, 1)
    history.step_begin(rollout_id, 0, "add", {"count": 1})
    history.step_done(rollout_id, 0)
    history.step_begin(rollout_id, 0, "add", {"count": 2})
    entry = journal_entry(history, rollout_id)
    assert entry is not None
    assert entry.steps == [{"index": 0, "action": "add", "detail": {"count": 2}, "status": "begin"}]


def test_updated_at_moves_with_each_write(history: History) -> None:
    rollout_id = history.start_rollout("agent", "1.2.0", "a", "1.3.0", "b", 2, 1)
    stamps = []
    writes: list[Callable[[], None]] = [
        lambda: history.step_begin(rollout_id, 0, "add", {}),
        lambda: history.step_done(rollout_id, 0),
        lambda: history.set_rollout_state(rollout_id, "paused"),
    ]
    for write in writes:
        time.sleep(0.002)
        write()
        entry = journal_entry(history, rollout_id)
        assert entry is not None
        stamps.append(entry.updated_at)
    assert stamps == sorted(set(stamps))


def test_unknown_rollout_and_state_are_rejected(history: History) -> None:
    with pytest.raises(ValueError, match="no rollout nope"):
        history.step_begin("nope", 0, "add", {})
    with pytest.raises(ValueError, match="no rollout nope"):
        history.set_rollout_state("nope", "complete")
    rollout_id = history.start_rollout("agent", "1.2.0", "a", "1.3.0", "b", 2, 1)
    with pytest.raises(ValueError, match="not a rollout state: 'finished'"):
        history.set_rollout_state(rollout_id, "finished")  # type: ignore[arg-type]


def test_unfinished_lists_running_and_paused(history: History) -> None:
    running = history.start_rollout("agent", "1.2.0", "a", "1.3.0", "b", 2, 1)
    paused = history.start_rollout("collector", "2.0.0", "c", "2.1.0", "d", 2, 1)
    history.set_rollout_state(paused, "paused")
    states: list[JournalState] = ["complete", "failed", "rolled-back", "undone"]
    for state in states:
        finished = history.start_rollout("agent", "1.3.0", "b", "1.4.0", "e", 3, 1)
        history.set_rollout_state(finished, state)
    assert [e.rollout_id for e in history.unfinished()] == [running, paused]
    assert [e.rollout_id for e in history.unfinished("collector")] == [paused]
    assert [e.state for e in history.unfinished()] == ["running", "paused"]
    history.set_rollout_state(running, "complete")
    assert [e.rollout_id for e in history.unfinished("agent")] == []


def test_the_process_that_runs_a_rollout_owns_it(history: History) -> None:
    """A resume sets the state `running` again: the entry then names the resuming
    process, so other commands see it run, not interrupted."""
    rollout_id = history.start_rollout("agent", "1.2.0", "a", "1.3.0", "b", 2, 1)
    history.set_rollout_state(rollout_id, "paused")
    assert history.unfinished("agent")[0].pid == 1
    history.set_rollout_state(rollout_id, "running")
    assert history.unfinished("agent")[0].pid == os.getpid()


def test_unfinished_rollout_survives_a_closed_writer(db_path: Path) -> None:
    writer = History.open(db_path)
    rollout_id = writer.start_rollout("agent", "1.2.0", "a", "1.3.0", "b", 2, 99)
    writer.step_begin(rollout_id, 0, "add", {"count": 1})
    writer.close()
    with History.open(db_path) as reader:
        [entry] = reader.unfinished("agent")
    assert entry.rollout_id == rollout_id
    assert entry.pid == 99
    assert entry.steps[-1]["status"] == "begin"


WRITER = """
import os, sys
from pathlib import Path
from agentlab.state.history import History
history = History.open(Path(sys.argv[1]))
rollout_id = history.start_rollout("agent", "1.2.0", "a", "1.3.0", "b", 2, os.getpid())
history.step_begin(rollout_id, 0, "add", {"count": 1})
history.step_done(rollout_id, 0)
history.step_begin(rollout_id, 1, "remove", {"id": "abc"})
print(rollout_id, flush=True)
os._exit(1)  # die without closing anything
"""


def test_unfinished_rollout_found_after_the_writer_process_died(db_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", WRITER, str(db_path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 1, proc.stderr
    with History.open(db_path) as history:
        [entry] = history.unfinished()
    assert entry.rollout_id == proc.stdout.strip()
    assert entry.pid != os.getpid()
    assert [(s["index"], s["status"]) for s in entry.steps] == [(0, "done"), (1, "begin")]


def test_the_journal_keeps_the_last_finished_rollouts_per_service(db_path: Path) -> None:
    with History.open(db_path, keep=3) as history:
        ids = []
        for number in range(1, 6):
            rollout_id = history.start_rollout("agent", "1", "a:1", "2", "a:2", number, 1)
            history.step_begin(rollout_id, 1, "start", {})
            history.step_done(rollout_id, 1)
            history.set_rollout_state(rollout_id, "complete")
            ids.append(rollout_id)
        other = history.start_rollout("db", "1", "d:1", "2", "d:2", 1, 1)
        history.set_rollout_state(other, "failed")
        running = history.start_rollout("agent", "2", "a:2", "3", "a:3", 6, 1)
        history.set_rollout_state(history.start_rollout("agent", "2", "a:2", "3", "a:3", 7, 1),
                                  "rolled-back")  # fmt: skip
        kept = [rid for rid in ids if journal_entry(history, rid) is not None]
        assert kept == ids[3:]  # with the rolled-back one: the last 3 finished
        assert journal_entry(history, other) is not None  # another service's entry
        assert journal_entry(history, running) is not None  # never an unfinished one
        steps = history._rows("SELECT rollout_id FROM rollout_steps")
        assert {row["rollout_id"] for row in steps} <= {*ids[3:], other, running}


def test_a_database_of_the_first_schema_says_complete_not_done(db_path: Path) -> None:
    """A database the first agentlab wrote: its `done` reads `complete`, and its rollouts
    gain the configuration columns (none: rollouts of an image)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(db_path)) as conn, conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        conn.execute(
            "INSERT INTO rollouts VALUES ('r1', 'agent', '1', '2', 'a:1', 'a:2', 1, 'done',"
            " '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', 1)"
        )
    with History.open(db_path) as history:
        entry = journal_entry(history, "r1")
        assert entry is not None and (entry.state, entry.from_config) == ("complete", None)
        rollout_id = history.start_rollout("agent", "2", "a:2", "2", "a:2", 2, 1, "h1")
        entry = journal_entry(history, rollout_id)
        assert entry is not None and entry.from_config == "h1"


def test_a_revision_keeps_its_strategy_and_why_it_ended(history: History) -> None:
    """A rollout's revision says how it rolled and, when it did not complete, why."""
    history.begin_revision("agent", "2.0.0", "a:2", "sha256:2", None, "rollout", "canary")
    history.finish_revision("agent", 1, "rolled-back", "error_rate 5% > 1%; back on 1.0.0")
    history.begin_revision("agent", "1.1.0", "a:1.1", "sha256:3", None, "up")
    history.finish_revision("agent", 2, "complete")
    first, second = history.revisions("agent")
    assert (first.strategy, first.reason) == ("canary", "error_rate 5% > 1%; back on 1.0.0")
    assert (second.strategy, second.reason) == (None, None)


def test_revisions_written_before_strategies_were_kept_read_none(db_path: Path) -> None:
    """A database of the schema before: its revisions read with no strategy nor reason."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(db_path)) as conn, conn:
        for statements in MIGRATIONS[: SCHEMA_VERSION - 1]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION - 1,))
        conn.execute(
            "INSERT INTO revisions VALUES ('agent', 1, '1.0.0', 'a:1', 'sha256:1', NULL, 'up',"
            " '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:01.000Z', 'failed')"
        )
    with History.open(db_path) as history:
        [old] = history.revisions("agent")
        assert (old.outcome, old.strategy, old.reason) == ("failed", None, None)


def test_only_a_configuration_rollout_counts_as_an_edit_a_rollback_cannot_take_back(
    history: History,
) -> None:
    """`up` records a revision at the same image for other reasons too (`up --locked` of
    a project that was down pins the digest of the same version): not an edit."""

    def completed(version: str, image_id: str, cause: str) -> None:
        revision = history.begin_revision("agent", version, f"a:{version}", image_id, None, cause)
        history.finish_revision("agent", revision.number, "complete")

    completed("0.9.0", "sha256:09", "rollout agent --to 0.9.0")
    completed("1.0.0", "sha256:10", "rollout agent --to 1.0.0")
    completed("1.0.0", "sha256:10", "up")
    assert history.edited_from("agent") is None
    completed("1.0.0", "sha256:10", "up (configuration edited)")
    edited = history.edited_from("agent")
    assert edited is not None and edited.number == 3
