"""Rollout domain: settings, a pure planner, the runner that executes its steps against an
engine, the typed events it emits, and the journal it writes."""
