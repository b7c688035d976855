"""What git says about a build context: its commit (the OCI revision label) and the
version its history gives (`images build --from-git`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from agentlab.common.errors import BadInput
from agentlab.versions import git_version

UNKNOWN = "unknown"


def _git(directory: Path, *args: str) -> str | None:
    """git's stdout in `directory`, or None outside a checkout (or without git)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source_revision(directory: Path) -> str:
    """The commit the sources are at (`-dirty` with uncommitted changes), or `unknown`."""
    commit = _git(directory, "rev-parse", "HEAD")
    if not commit:
        return UNKNOWN
    dirty = _git(directory, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return f"{commit}-dirty" if dirty else commit


def version_from_git(directory: Path) -> str:
    """The version the checkout holding `directory` is at (see versions.git_version)."""
    describe = _git(
        directory,
        "describe",
        "--tags",
        "--long",
        "--dirty",
        "--always",
        "--match",
        "v[0-9]*",
        "--match",
        "[0-9]*",
    )
    if describe is None:
        raise BadInput(
            f"{directory} is not in a git checkout, so it has no version from git",
            hint="pass --version 1.2.0 instead",
        )
    commits = _git(directory, "rev-list", "--count", "HEAD") or "0"
    return git_version(describe, int(commits))
