"""The style the README promises, checked in CI: ruff's lint rules and format, and mypy,
on agentlab, its tests and its benchmarks (configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TREES = ["agentlab", "tests", "benchmarks"]


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip


@pytest.mark.parametrize(
    "check",
    [("ruff", "check", "--no-cache"), ("ruff", "format", "--check", "--no-cache"), ("mypy",)],
    ids=["ruff check", "ruff format", "mypy"],
)
def test_the_code_is_clean(check: tuple[str, ...]) -> None:
    done = run_module(*check, *TREES)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
