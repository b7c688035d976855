"""`agentlab watch` on the real engine: an editor-style save of the override rolls the
agents out; a broken save is reported and changes nothing; SIGINT ends it with exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import LabRun

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("demo_images")]


def save(path: Path, text: str) -> None:
    """Save like an editor: write a temporary file beside the file, rename it over."""
    temp = path.with_name(f".{path.name}.swp")
    temp.write_text(text)
    os.replace(temp, path)


def all_agents_on(lab: LabRun, version: str) -> bool:
    status = lab("status", "--json")
    if status.code != 0:
        return False
    agent = next(s for s in status.json()["services"] if s["service"] == "agent")
    replicas = agent["replicas"]
    return len(replicas) == 3 and all(
        r["version"] == version and r["health"] == "healthy" for r in replicas
    )


def container_ids(lab: LabRun) -> list[str]:
    label = f"label=com.docker.compose.project={lab.project}"
    return sorted(lab.docker("ps", "-aq", "--no-trunc", "--filter", label).split())


class WatchProcess:
    """`agentlab watch` in the background, its output in files."""

    def __init__(self, lab: LabRun, directory: Path) -> None:
        self.out, self.err = directory / "watch.out", directory / "watch.err"
        cmd = [sys.executable, "-m", "agentlab", "-f", str(lab.compose_file), "-p", lab.project]
        with self.out.open("w") as stdout, self.err.open("w") as stderr:
            self.proc = subprocess.Popen(
                [*cmd, "watch", "--duration", "90"], stdout=stdout, stderr=stderr, env=lab.env
            )

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def wait_until(self, predicate: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                code = self.proc.returncode
                pytest.fail(f"watch exited ({code}) before {what}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}:\n{self.output()}")
            time.sleep(0.5)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def test_watch_rolls_out_an_edit_and_keeps_the_config_on_a_broken_one(
    demo_lab: LabRun, tmp_path: Path
) -> None:
    up = demo_lab("up", "--version", "1.2.0")
    assert up.code == 0, up.err
    watch = WatchProcess(demo_lab, tmp_path)
    try:
        watch.wait_until(lambda: "watching" in watch.err.read_text(), "the watch to start", 30)
        override = demo_lab.state_dir / "override.yaml"
        text = override.read_text()
        assert "agentlab-demo/agent:1.2.0" in text
        save(override, text.replace("agentlab-demo/agent:1.2.0", "agentlab-demo/agent:1.3.0"))
        watch.wait_until(lambda: all_agents_on(demo_lab, "1.3.0"), "the agents on 1.3.0", 80)
        watch.wait_until(
            lambda: "complete: agent runs 1.3.0" in watch.out.read_text(), "the rollout", 20
        )
        lines = watch.out.read_text().splitlines()
        assert "desired: agent 1.2.0 -> 1.3.0" in lines
        assert any(line.startswith("rollout agent 1.2.0 -> 1.3.0 (3 replicas") for line in lines)
        assert sum(line.startswith("rollout agent") for line in lines) == 1

        ids = container_ids(demo_lab)
        save(override, "services: [agent\n")
        reported = f"config error: {override}: invalid YAML"  # the demo's state is per user
        watch.wait_until(lambda: reported in watch.out.read_text(), "the config error", 20)
        time.sleep(3)
        assert container_ids(demo_lab) == ids
        error = next(line for line in watch.out.read_text().splitlines() if reported in line)
        assert error.startswith(f"{reported} (line 2")
        assert error.endswith("; keeping the last good config")

        assert watch.proc.poll() is None
        watch.proc.send_signal(signal.SIGINT)
        assert watch.proc.wait(timeout=30) == 0, watch.output()
        assert "error" not in watch.err.read_text()
    finally:
        watch.close()
