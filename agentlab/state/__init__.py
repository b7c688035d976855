"""A project's state: revision history and rollout journal (SQLite), the Compose override
agentlab owns (pins and replica counts), and the lock that serialises mutating commands."""
