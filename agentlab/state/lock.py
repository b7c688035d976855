"""The project lock: one mutating agentlab command at a time per project.

An exclusive `flock` on `<state_dir>/lock`, so the kernel releases it when the
holder dies, however it dies. The file names the holder (JSON: pid, command) so
a refused command can say who is busy.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentlab.common.errors import LockBusy
from agentlab.common.processes import pid_alive
from agentlab.state.directory import usable_directory


@contextmanager
def project_lock(state_dir: Path, command: str) -> Iterator[None]:
    """Hold the project lock for the duration of the block, or raise LockBusy."""
    usable_directory(state_dir)
    fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder_command, holder_pid = _holder(fd)
            raise LockBusy(
                "another agentlab command is changing this project "
                f"({holder_command} pid {holder_pid})",
                hint="wait for it to finish, or stop it",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def lock_held(state_dir: Path) -> bool:
    """Whether a live command holds the project lock now, as the holder's record in the
    lock file says (written once taken, emptied on release); never takes the lock, which
    would refuse a command starting at that moment."""
    lock = state_dir / "lock"
    try:
        info = json.loads(lock.read_text(encoding="utf-8") or "{}")
        written = lock.stat().st_mtime  # after the read: a new holder's record is no older
    except (OSError, ValueError):
        return False
    pid = info.get("pid") if isinstance(info, dict) else None
    return isinstance(pid, int) and pid_alive(pid, started_by=written)


def _holder(fd: int) -> tuple[str, str]:
    """The holder's command and pid as written in the lock file, or placeholders
    while the holder has not written them yet."""
    try:
        info = json.loads(os.pread(fd, os.fstat(fd).st_size, 0))
        return str(info["command"]), str(info["pid"])
    except (ValueError, TypeError, KeyError):
        return "unknown command", "unknown"
