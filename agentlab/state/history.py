"""Revisions per service and the rollout journal, in one SQLite file per project.

The database runs in WAL mode with a busy timeout, so several agentlab processes
can read while one writes. Every write is one `BEGIN IMMEDIATE` transaction.
Timestamps are RFC 3339 UTC strings (`2024-05-01T12:00:00.000Z`). Both are pruned to
the last `keep` per service: revisions when a new one begins (sparing the current one),
finished journal entries (and their steps) when a rollout ends.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, get_args

from agentlab.common.durations import rfc3339
from agentlab.common.errors import OperationFailed
from agentlab.rollout.journal import JOURNAL_STATES, UNFINISHED, JournalState, Outcome
from agentlab.state.directory import usable_directory
from agentlab.state.history_records import (
    EDITED_CONFIGURATION,
    JournalEntry,
    Revision,
    entry_of,
    revision_of,
)
from agentlab.state.history_schema import MIGRATIONS, SCHEMA_VERSION


def now_rfc3339() -> str:
    """The current UTC time as an RFC 3339 string with milliseconds."""
    return rfc3339(datetime.now(UTC))


class History:
    """The project's history database. Safe to share between threads."""

    def __init__(self, conn: sqlite3.Connection, keep: int = 10) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, not {keep}")
        self._conn = conn
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self.keep = keep

    @classmethod
    def open(cls, path: Path, keep: int = 10, busy_timeout: float = 5.0) -> History:
        """Open (creating it and its parent folders if needed) and migrate a database."""
        usable_directory(path.parent)
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            history = cls(conn, keep)
            history._migrate(path)
        except BaseException as err:
            conn.close()
            if isinstance(err, sqlite3.DatabaseError):
                raise OperationFailed(
                    f"cannot open the history database {path}: {err}",
                    hint="move the file aside to start a fresh history",
                ) from err
            raise
        return history

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction: committed on success, rolled back on any error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _migrate(self, path: Path) -> None:
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            found = 0 if row is None else int(row["version"])
            if found > SCHEMA_VERSION:
                raise OperationFailed(
                    f"the history database {path} has schema {found}, newer than this "
                    f"agentlab knows ({SCHEMA_VERSION})",
                    hint="upgrade agentlab",
                )
            for statements in MIGRATIONS[found:]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    # Revisions

    def begin_revision(
        self,
        service: str,
        version: str,
        image_ref: str,
        image_id: str,
        digest: str | None,
        cause: str,
        strategy: str | None = None,
    ) -> Revision:
        """Record a new in-progress revision and prune old ones beyond `keep`."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT COALESCE(MAX(number), 0) AS last FROM revisions WHERE service = ?",
                (service,),
            ).fetchone()
            revision = Revision(
                service=service,
                number=int(row["last"]) + 1,
                version=version,
                image_ref=image_ref,
                image_id=image_id,
                digest=digest,
                cause=cause,
                started_at=now_rfc3339(),
                finished_at=None,
                outcome="in-progress",
                strategy=strategy,
            )
            conn.execute(
                "INSERT INTO revisions (service, number, version, image_ref, image_id, digest,"
                " cause, started_at, finished_at, outcome, strategy)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    revision.service,
                    revision.number,
                    revision.version,
                    revision.image_ref,
                    revision.image_id,
                    revision.digest,
                    revision.cause,
                    revision.started_at,
                    revision.finished_at,
                    revision.outcome,
                    revision.strategy,
                ),
            )
            self._prune(conn, service, revision.number)
        return revision

    def _prune(self, conn: sqlite3.Connection, service: str, newest: int) -> None:
        """Delete revisions older than the last `keep`, sparing the current one."""
        conn.execute(
            "DELETE FROM revisions WHERE service = ? AND number <= ? AND number IS NOT"
            " (SELECT MAX(number) FROM revisions WHERE service = ? AND outcome = 'complete')",
            (service, newest - self.keep, service),
        )

    def finish_revision(
        self, service: str, number: int, outcome: Outcome, reason: str | None = None
    ) -> None:
        """Set a revision's final outcome, finish time and (other than complete) why."""
        if outcome not in get_args(Outcome):
            raise ValueError(f"not a final outcome: {outcome!r}")
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE revisions SET outcome = ?, finished_at = ?, reason = ?"
                " WHERE service = ? AND number = ?",
                (outcome, now_rfc3339(), reason, service, number),
            )
            if cursor.rowcount == 0:
                raise ValueError(f"no revision {number} of {service}")

    def revisions(self, service: str | None = None) -> list[Revision]:
        """Every kept revision (of one service), ordered by service and number."""
        if service is None:
            rows = self._rows("SELECT * FROM revisions ORDER BY service, number")
        else:
            rows = self._rows(
                "SELECT * FROM revisions WHERE service = ? ORDER BY number", (service,)
            )
        return [revision_of(row) for row in rows]

    def revision(self, service: str, number: int) -> Revision | None:
        rows = self._rows(
            "SELECT * FROM revisions WHERE service = ? AND number = ?", (service, number)
        )
        return revision_of(rows[0]) if rows else None

    def current(self, service: str) -> Revision | None:
        """The latest revision that completed: what the service runs now."""
        rows = self._rows(
            "SELECT * FROM revisions WHERE service = ? AND outcome = 'complete'"
            " ORDER BY number DESC LIMIT 1",
            (service,),
        )
        return revision_of(rows[0]) if rows else None

    def edited_from(self, service: str) -> Revision | None:
        """The completed revision before the current one when the current one rolled out an
        edit of the compose files' configuration on the same image."""
        now = self.current(service)
        if now is None or not now.cause.endswith(EDITED_CONFIGURATION):
            return None
        rows = self._rows(
            "SELECT * FROM revisions WHERE service = ? AND outcome = 'complete'"
            " AND number < ? ORDER BY number DESC LIMIT 1",
            (service, now.number),
        )
        before = revision_of(rows[0]) if rows else None
        same = before is not None and (before.version, before.image_id) == (
            now.version,
            now.image_id,
        )
        return before if same else None

    def previous(self, service: str) -> Revision | None:
        """The latest completed revision before the current one at another version:
        where `rollback` with no argument goes."""
        now = self.current(service)
        if now is None:
            return None
        rows = self._rows(
            "SELECT * FROM revisions WHERE service = ? AND outcome = 'complete'"
            " AND number < ? AND version != ? ORDER BY number DESC LIMIT 1",
            (service, now.number, now.version),
        )
        return revision_of(rows[0]) if rows else None

    # Rollout journal

    def start_rollout(
        self,
        service: str,
        from_version: str,
        from_image: str,
        to_version: str,
        to_image: str,
        revision_number: int,
        pid: int,
        from_config: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> str:
        """Open a journal entry in state `running`; return its id (uuid4 hex).
        `from_config`: a configuration rollout's, the Compose config hash it leaves;
        `options`: the rollout options given (JSON values), kept for resume and undo."""
        rollout_id = uuid.uuid4().hex
        stamp = now_rfc3339()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO rollouts (id, service, from_version, to_version, from_image,"
                " to_image, revision_number, state, started_at, updated_at, pid, from_config,"
                " options) VALUES (?,?,?,?,?,?,?,'running',?,?,?,?,?)",
                (
                    rollout_id,
                    service,
                    from_version,
                    to_version,
                    from_image,
                    to_image,
                    revision_number,
                    stamp,
                    stamp,
                    pid,
                    from_config,
                    json.dumps(options, sort_keys=True) if options else None,
                ),
            )
        return rollout_id

    def step_begin(self, rollout_id: str, index: int, action: str, detail: dict[str, Any]) -> None:
        """Record that step `index` is about to run (again, when a rollout resumes)."""
        encoded = json.dumps(detail, sort_keys=True)
        with self._write() as conn:
            self._touch(conn, rollout_id)
            conn.execute(
                "INSERT INTO rollout_steps (rollout_id, idx, action, detail, status)"
                " VALUES (?,?,?,?,'begin') ON CONFLICT (rollout_id, idx) DO UPDATE SET"
                " action = excluded.action, detail = excluded.detail, status = 'begin'",
                (rollout_id, index, action, encoded),
            )

    def step_done(self, rollout_id: str, index: int) -> None:
        """Record that step `index` finished."""
        with self._write() as conn:
            self._touch(conn, rollout_id)
            cursor = conn.execute(
                "UPDATE rollout_steps SET status = 'done' WHERE rollout_id = ? AND idx = ?",
                (rollout_id, index),
            )
            if cursor.rowcount == 0:
                raise ValueError(f"rollout {rollout_id} has no step {index}")

    def set_rollout_state(self, rollout_id: str, state: JournalState) -> None:
        """Record a rollout's state (`running`: run by this process, which a resume is);
        once it has ended, prune the service's finished journal entries beyond the last
        `keep` (the journal does not grow forever)."""
        if state not in JOURNAL_STATES:
            raise ValueError(f"not a rollout state: {state!r}")
        with self._write() as conn:
            self._touch(conn, rollout_id)
            conn.execute("UPDATE rollouts SET state = ? WHERE id = ?", (state, rollout_id))
            if state == "running":
                conn.execute("UPDATE rollouts SET pid = ? WHERE id = ?", (os.getpid(), rollout_id))
            if state not in UNFINISHED:
                self._prune_journal(conn, rollout_id)

    def _prune_journal(self, conn: sqlite3.Connection, rollout_id: str) -> None:
        """Delete the finished journal entries of this rollout's service beyond `keep`."""
        stale = conn.execute(
            "SELECT id FROM rollouts WHERE service = (SELECT service FROM rollouts WHERE id = ?)"
            " AND state NOT IN (?, ?) ORDER BY started_at DESC, rowid DESC LIMIT -1 OFFSET ?",
            (rollout_id, *UNFINISHED, self.keep),
        ).fetchall()
        for row in stale:
            conn.execute("DELETE FROM rollout_steps WHERE rollout_id = ?", (row["id"],))
            conn.execute("DELETE FROM rollouts WHERE id = ?", (row["id"],))

    def _touch(self, conn: sqlite3.Connection, rollout_id: str) -> None:
        cursor = conn.execute(
            "UPDATE rollouts SET updated_at = ? WHERE id = ?", (now_rfc3339(), rollout_id)
        )
        if cursor.rowcount == 0:
            raise ValueError(f"no rollout {rollout_id}")

    def last_touch(self) -> str:
        """When the rollout journal last changed ('' when empty): a mark for touched_since."""
        return str(self._rows("SELECT MAX(updated_at) AS at FROM rollouts")[0]["at"] or "")

    def touched_since(self, mark: str) -> set[str]:
        """The services whose rollouts started, took a step or ended after `mark`."""
        rows = self._rows("SELECT DISTINCT service FROM rollouts WHERE updated_at > ?", (mark,))
        return {row["service"] for row in rows}

    def unfinished(self, service: str | None = None) -> list[JournalEntry]:
        """Rollouts still running or paused (their process may have died), oldest first."""
        sql = "SELECT * FROM rollouts WHERE state IN (?, ?)"
        params: tuple[Any, ...] = UNFINISHED
        if service is not None:
            sql += " AND service = ?"
            params += (service,)
        rows = self._rows(sql + " ORDER BY started_at, rowid", params)
        return [entry_of(row, self._steps(row["id"])) for row in rows]

    def _steps(self, rollout_id: str) -> list[sqlite3.Row]:
        return self._rows(
            "SELECT idx, action, detail, status FROM rollout_steps WHERE rollout_id = ?"
            " ORDER BY idx",
            (rollout_id,),
        )
