"""Ctrl-C and SIGTERM on the real engine: what a stopped command leaves behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from tests.conftest import WEBAPP, LabRun, base_image_env, lab_run

pytestmark = [pytest.mark.engine]


@pytest.fixture
def slow_build(tmp_path: Path) -> Iterator[LabRun]:
    """The webapp project copied to `tmp_path`, web's build slowed by a `RUN sleep 60`."""
    root = tmp_path / "webapp"
    shutil.copytree(WEBAPP.parent, root, ignore=shutil.ignore_patterns(".agentlab"))
    dockerfile = root / "web" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN sleep 60\n")
    yield from lab_run(root / "compose.yaml", "t-sig", base_image_env())


def builds_of(directory: Path) -> dict[int, str]:
    """The processes building from `directory`'s compose file: pid and command line."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        line = b" ".join(args).decode(errors="replace")
        if str(directory) in line and b"build" in args:
            found[int(cmdline.parent.name)] = line
    return found


def test_sigterm_mid_build_ends_compose_s_build_too(slow_build: LabRun) -> None:
    """SIGTERM to agentlab alone (`kill`, a cancelled CI job) printed `terminated` while
    the orphaned `docker compose build` went on and tagged the image a minute later."""
    lab = slow_build
    version = f"0.0.0-sig{uuid.uuid4().hex[:8]}"
    build = ["images", "build", "--service", "web", "--version", version]
    command = [sys.executable, "-m", "agentlab", "-f", str(lab.compose_file), "-p", lab.project]
    process = subprocess.Popen(
        [*command, *build], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=lab.env
    )
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # until BuildKit runs the slow step
            seen.append(line)
            if "RUN sleep 60" in line:
                break
        assert "RUN sleep 60" in seen[-1], "".join(seen)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 143, err
        assert err.strip().splitlines() == [
            "error: terminated (SIGTERM) (hint: agentlab status shows what is running)"
        ]
        assert builds_of(lab.compose_file.parent) == {}
        assert not (lab.state_dir / ".build-web.yaml").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        for pid in builds_of(lab.compose_file.parent):  # what an agentlab without the fix left
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["docker", "image", "rm", "-f", f"agentlab-test/web:{version}"],
                       capture_output=True, timeout=60, check=False)  # fmt: skip
