"""What every command handler shares: opening the lab, progress lines, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from agentlab.lab import Lab
from agentlab.project import load_project


def say(line: str) -> None:
    """A progress line on stderr, so stdout stays clean for --json."""
    print(line, file=sys.stderr, flush=True)


def emit_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def open_lab(args: argparse.Namespace) -> Lab:
    """Load the project; warn about interrupted or paused rollouts before anything else."""
    lab = Lab(load_project(args.files, args.project))
    for line in lab.unfinished():
        say(f"warning: {line} (hint: agentlab rollout resume | agentlab rollout undo)")
    return lab
