"""Scripted mode: the `agentlab` command line."""
