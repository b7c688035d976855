"""Fixtures of the engine's unit tests: a stand-in docker CLI on PATH."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest


def stand_in_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """A `docker` first on PATH that writes its arguments to argv.txt, then runs the shell
    `body`; argv.txt's path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/argv.txt\n{body}')
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "argv.txt"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `docker` that writes its arguments to argv.txt, prints $FAKE_STDERR to stderr,
    sleeps $FAKE_SLEEP seconds and exits with $FAKE_EXIT."""
    return stand_in_docker(
        tmp_path,
        monkeypatch,
        'printf "%s" "$FAKE_STDERR" >&2\nsleep "${FAKE_SLEEP:-0}"\nexit "${FAKE_EXIT:-0}"\n',
    )
