"""Processes on this machine, and this one's stop signals."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, `docker stop`, `kill`): the command stops as at Ctrl-C,
    says so in one line and exits 143, instead of dying without a word."""


def on_sigterm(_signum: int, _frame: object) -> None:
    """A SIGTERM handler: raise Terminated where the main thread is."""
    raise Terminated


def stop_reason(stop: KeyboardInterrupt) -> tuple[str, int]:
    """What stopped the command, as its one line says it, and its exit code."""
    if isinstance(stop, Terminated):
        return "terminated (SIGTERM)", 143
    return "interrupted", 130
