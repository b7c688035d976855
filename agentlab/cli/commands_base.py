"""What every command handler shares: opening the lab, and progress lines on stderr."""

from __future__ import annotations

import argparse
import sys
from contextlib import suppress

from agentlab.lab.facade import Lab
from agentlab.project.location import load_project


def say(line: str) -> None:
    """A progress line on stderr, so stdout stays clean for --json (the warnings held
    before it)."""
    say_warnings()
    print(line, file=sys.stderr, flush=True)


# the labs this command opened, each with the rollouts its journal had left by this pid (a
# reused one) then: an interrupt's hint names the ones left since
OPENED: list[tuple[Lab, list[str]]] = []
# the unfinished rollouts open_lab found, said before the first progress line or the end
WARNINGS: list[str] = []


def open_lab(args: argparse.Namespace) -> Lab:
    """Load the project's lab, as `opened` keeps it."""
    return opened(Lab(load_project(args.files, args.project, args.env)))


def opened(lab: Lab) -> Lab:
    """Note a lab this command opened, and hold a warning for each interrupted or paused
    rollout it has."""
    OPENED.append((lab, lab.stopped_here()))
    WARNINGS.extend(lab.unfinished())
    return lab


def say_warnings(but: str = "") -> None:
    """Say the warnings held, except one that says `but` (the error the command ends with
    says it already, with its hint)."""
    while WARNINGS:
        line = WARNINGS.pop(0)
        if line != but:
            print(f"warning: {line} (hint: agentlab rollout resume | agentlab rollout undo)",
                  file=sys.stderr, flush=True)  # fmt: skip


def interrupt_hint() -> str:
    """What to do after Ctrl-C or SIGTERM: resume or undo the rollout it cut short."""
    with suppress(Exception):  # an unreadable journal: the general hint
        for lab, before in OPENED:
            for service in set(lab.stopped_here()) - set(before):
                return f"agentlab rollout resume {service}, or agentlab rollout undo {service}"
    return "agentlab status shows what is running"
