"""What every command handler shares: opening the lab, and progress lines on stderr."""

from __future__ import annotations

import argparse
import sys

from agentlab.lab.facade import Lab
from agentlab.project.location import load_project


def say(line: str) -> None:
    """A progress line on stderr, so stdout stays clean for --json."""
    print(line, file=sys.stderr, flush=True)


def open_lab(args: argparse.Namespace) -> Lab:
    """Load the project; warn about interrupted or paused rollouts before anything else."""
    lab = Lab(load_project(args.files, args.project, args.env))
    for line in lab.unfinished():
        say(f"warning: {line} (hint: agentlab rollout resume | agentlab rollout undo)")
    return lab
