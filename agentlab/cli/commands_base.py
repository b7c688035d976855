"""What every command handler shares: opening the lab, and progress lines on stderr."""

from __future__ import annotations

import argparse
import sys
from contextlib import suppress

from agentlab.lab.facade import Lab
from agentlab.project.location import load_project


def say(line: str) -> None:
    """A progress line on stderr, so stdout stays clean for --json."""
    print(line, file=sys.stderr, flush=True)


# the labs this command opened, each with the rollouts its journal had left by this pid (a
# reused one) then: an interrupt's hint names the ones left since
OPENED: list[tuple[Lab, list[str]]] = []


def open_lab(args: argparse.Namespace) -> Lab:
    """Load the project; warn about interrupted or paused rollouts before anything else."""
    lab = Lab(load_project(args.files, args.project, args.env))
    OPENED.append((lab, lab.stopped_here()))
    for line in lab.unfinished():
        say(f"warning: {line} (hint: agentlab rollout resume | agentlab rollout undo)")
    return lab


def interrupt_hint() -> str:
    """What to do after Ctrl-C or SIGTERM: resume or undo the rollout it cut short."""
    with suppress(Exception):  # an unreadable journal: the general hint
        for lab, before in OPENED:
            for service in set(lab.stopped_here()) - set(before):
                return f"agentlab rollout resume {service}, or agentlab rollout undo {service}"
    return "agentlab status shows what is running"
