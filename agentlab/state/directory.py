"""The project's state directory (override, history, lock, canary requests) must be a
directory agentlab can read and write: `.agentlab/<project>` beside a project's compose
file, `$XDG_STATE_HOME/agentlab/<project>` for the demo lab.

When it is not (a file where the directory should be, a read-only mount, no permission),
the first command that needs it stops with one line, exit 2, before it changes anything:
`state directory ... is not usable: Read-only file system (hint: ...)`. Commands that do
not need it (versions, images list, logs, kill, lock, diff) still run.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from agentlab.common.errors import BadInput

HINT = (
    "agentlab keeps a project's pins, history and lock there: make it a writable "
    "directory; the demo lab's is under $XDG_STATE_HOME, default ~/.local/state"
)


class StateUnusable(BadInput):
    """The state directory cannot be created, read or written; nothing was changed."""

    def __init__(self, directory: Path, error: OSError) -> None:
        reason = error.strerror or str(error)
        blocking = _file_in_the_way(directory)
        if blocking is not None:
            reason = f"{blocking} is a file, not a directory"
        super().__init__(f"state directory {directory} is not usable: {reason}", hint=HINT)


def _file_in_the_way(directory: Path) -> Path | None:
    """The nearest of `directory` and its parents that exists, when it is not a directory."""
    for path in (directory, *directory.parents):
        if path.exists():
            return None if path.is_dir() else path
    return None


def usable_directory(directory: Path) -> Path:
    """`directory`, created when missing; StateUnusable when it cannot be, or when it is
    not readable and writable (access(2): a read-only mount counts, even for root)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StateUnusable(directory, error) from None
    _check_access(directory, directory)
    return directory


def existing_directory(directory: Path) -> bool:
    """Whether `directory` exists, never creating it (a read of a project never started
    leaves nothing behind); StateUnusable when `usable_directory` would refuse it."""
    if directory.exists():
        _check_access(directory, directory)
        return True
    ancestor = next(path for path in directory.parents if path.exists())
    if not ancestor.is_dir():
        raise StateUnusable(directory, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)))
    _check_access(directory, ancestor)  # where it would be created
    return False


def _check_access(directory: Path, path: Path) -> None:
    """StateUnusable for `directory` unless `path` is readable and writable (access(2): a
    read-only mount counts, even for root)."""
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        code = errno.EROFS if _read_only_mount(path) else errno.EACCES
        raise StateUnusable(directory, OSError(code, os.strerror(code)))


def _read_only_mount(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False
