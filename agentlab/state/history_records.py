"""The records the history database keeps, and how its rows become them: revisions per
service, and the rollout journal's entries with their steps."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from agentlab.common.processes import pid_alive
from agentlab.rollout.journal import JournalState, Outcome

# What the cause of a revision ends with when `up` rolled out an edit of the compose files'
# configuration (the image kept): only the files can take such a revision back.
EDITED_CONFIGURATION = " (configuration edited)"
# A revision is in progress until its rollout (or `up`) ends with an outcome.
RevisionOutcome = Literal["in-progress"] | Outcome


@dataclass(frozen=True)
class Revision:
    """One version a service ran (or tried to run), numbered per service."""

    service: str
    number: int
    version: str
    image_ref: str
    image_id: str
    digest: str | None
    cause: str
    started_at: str
    finished_at: str | None
    outcome: RevisionOutcome
    strategy: str | None = None  # how it was rolled out (None: by `up`, or before it was kept)
    reason: str | None = None  # why it ended other than complete


@dataclass(frozen=True)
class JournalEntry:
    """A rollout and the steps recorded for it, each written before it runs."""

    rollout_id: str
    service: str
    from_version: str
    to_version: str
    from_image: str
    to_image: str
    revision_number: int
    state: JournalState
    steps: list[dict[str, Any]]
    started_at: str
    updated_at: str
    pid: int
    from_config: str | None = None  # a configuration rollout's: the hash its replicas ran
    options: Mapping[str, Any] = field(default_factory=dict)  # the rollout options given

    def owner_alive(self) -> bool:
        """Whether the process running this rollout lives: the pid that last wrote it, and
        not a later process that reuses that pid."""
        written = datetime.fromisoformat(self.updated_at).timestamp()
        return pid_alive(self.pid, started_by=written)


def entry_of(row: sqlite3.Row, steps: list[sqlite3.Row]) -> JournalEntry:
    """A journal entry from its row and its steps' rows."""
    return JournalEntry(
        rollout_id=row["id"],
        service=row["service"],
        from_version=row["from_version"],
        to_version=row["to_version"],
        from_image=row["from_image"],
        to_image=row["to_image"],
        revision_number=row["revision_number"],
        state=row["state"],
        steps=[
            {
                "index": step["idx"],
                "action": step["action"],
                "detail": json.loads(step["detail"]),
                "status": step["status"],
            }
            for step in steps
        ],
        started_at=row["started_at"],
        updated_at=row["updated_at"],
        pid=row["pid"],
        from_config=row["from_config"],
        options=json.loads(row["options"]) if row["options"] else {},
    )


def revision_of(row: sqlite3.Row) -> Revision:
    """A revision from its row."""
    return Revision(
        service=row["service"],
        number=row["number"],
        version=row["version"],
        image_ref=row["image_ref"],
        image_id=row["image_id"],
        digest=row["digest"],
        cause=row["cause"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        outcome=row["outcome"],
        strategy=row["strategy"],
        reason=row["reason"],
    )
