"""What every command handler shares: opening the lab, and progress lines on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from agentlab.common.errors import AgentlabError
from agentlab.lab.facade import Lab
from agentlab.project.location import load_project
from agentlab.rollout.journal import resume_hint


def say(line: str) -> None:
    """A progress line on stderr, so stdout stays clean for --json (the warnings held
    before it)."""
    say_warnings()
    print(line, file=sys.stderr, flush=True)


# the labs this command opened, each with the rollouts its journal had left by this pid (a
# reused one) then: an interrupt's hint names the ones left since
OPENED: list[tuple[Lab, list[str]]] = []
# the labs whose interrupted or paused rollouts are still to be said (before the command's
# first line on either stream, or at its end), each with those it had when opened
HELD: list[tuple[Lab, list[str]]] = []


def open_lab(args: argparse.Namespace) -> Lab:
    """Load the project's lab, as `opened` keeps it."""
    return opened(Lab(load_project(args.files, args.project, args.env)))


def opened(lab: Lab) -> Lab:
    """Note a lab this command opened, and hold the warnings of its unfinished rollouts."""
    OPENED.append((lab, lab.stopped_here()))
    HELD.append((lab, lab.unfinished()))
    return lab


def say_warnings(but: str = "") -> None:
    """Say a warning for each rollout held that is still unfinished (not one this command
    finished since, nor one it left: the interrupt's error names that), except one that
    says `but` (the error the command ends with says it, with its hint)."""
    labs, HELD[:] = list(HELD), []
    for lab, before in labs:
        with suppress(AgentlabError):  # unreadable since it was opened: nothing to say
            still = lab.unfinished()
            for line in (line for line in before if line in still and line != but):
                print(f"warning: {line} (hint: agentlab rollout resume | agentlab rollout "
                      "undo)", file=sys.stderr, flush=True)  # fmt: skip


class _WarningsFirst:
    """Standard output that says the held warnings before its first line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        say_warnings()
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def warnings_first() -> Iterator[None]:
    """Run the block with the held warnings said before anything it prints."""
    original = sys.stdout
    sys.stdout = _WarningsFirst(original)
    try:
        yield
    finally:
        sys.stdout = original


def interrupt_hint(command: str | None) -> str:
    """What to do after Ctrl-C or SIGTERM: resume or undo the rollout it cut short (and,
    when `up` rolled it, run that `up` again for the services it had not reached)."""
    with suppress(Exception):  # an unreadable journal: the general hint
        for lab, before in OPENED:
            for service in set(lab.stopped_here()) - set(before):
                rest = "; then the same agentlab up again, for the rest" if command == "up" else ""
                return resume_hint(service) + rest
    return "agentlab status shows what is running"
