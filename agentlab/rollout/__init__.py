"""Rollout: a pure planner and a runner that executes its steps against an engine."""
