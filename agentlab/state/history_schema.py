"""The history database's schema: the statements that bring a database from each schema
version to the next (the revisions, the rollout journal and its steps)."""

from __future__ import annotations

# Index i holds the statements that upgrade a database from schema version i to i + 1.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE revisions (
            service TEXT NOT NULL,
            number INTEGER NOT NULL,
            version TEXT NOT NULL,
            image_ref TEXT NOT NULL,
            image_id TEXT NOT NULL,
            digest TEXT,
            cause TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT NOT NULL,
            PRIMARY KEY (service, number)
        )""",
        """CREATE TABLE rollouts (
            id TEXT PRIMARY KEY,
            service TEXT NOT NULL,
            from_version TEXT NOT NULL,
            to_version TEXT NOT NULL,
            from_image TEXT NOT NULL,
            to_image TEXT NOT NULL,
            revision_number INTEGER NOT NULL,
            state TEXT NOT NULL,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            pid INTEGER NOT NULL
        )""",
        "CREATE INDEX rollouts_by_state ON rollouts (state, service)",
        """CREATE TABLE rollout_steps (
            rollout_id TEXT NOT NULL REFERENCES rollouts (id),
            idx INTEGER NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL,
            status TEXT NOT NULL,
            PRIMARY KEY (rollout_id, idx)
        )""",
    ),
    ("UPDATE rollouts SET state = 'complete' WHERE state = 'done'",),  # one outcome vocabulary
    # a configuration rollout: Compose's config hash its replicas ran (NULL: an image's)
    ("ALTER TABLE rollouts ADD COLUMN from_config TEXT",),
    # the rollout options given (JSON), for resume and undo to run with them (NULL: none)
    ("ALTER TABLE rollouts ADD COLUMN options TEXT",),
    # a revision's strategy, and why it ended other than complete (NULL: unknown, none)
    (
        "ALTER TABLE revisions ADD COLUMN strategy TEXT",
        "ALTER TABLE revisions ADD COLUMN reason TEXT",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)
