"""Processes on this machine, and this one's stop signals."""

from __future__ import annotations

import os

# a process start time read from /proc is whole seconds of boot time plus clock ticks
START_SLACK = 2.0


def pid_alive(pid: int, started_by: float | None = None) -> bool:
    """Whether a process with this pid exists (one of another user's counts). With
    `started_by` (a Unix time the process was known to run at), one that started later
    is another process that reuses the pid, and does not count."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if pid <= 0:
        return False
    if started_by is None:
        return True
    start = process_start(pid)
    return start is None or start <= started_by + START_SLACK


def process_start(pid: int) -> float | None:
    """When process `pid` started (a Unix time), from /proc; None where there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/stat", encoding="ascii") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


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
