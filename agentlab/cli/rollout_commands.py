"""Rollout, rollback, history and traffic commands."""

from __future__ import annotations

import argparse
from typing import Any

from agentlab.errors import BadInput


def add_parsers(sub: Any) -> None:
    """Register the rollout family of subcommands."""


def run(args: argparse.Namespace) -> int:
    raise BadInput(f"unknown command '{args.command}'", hint="agentlab --help")
