"""`ComposeEngine.build_service` runs `docker compose build` itself: its command line, its
steps as progress, its errors, and its processes ended with the command."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agentlab.common.errors import OperationFailed
from agentlab.engine.compose import ComposeEngine
from tests.unit.conftest import stand_in_docker


@pytest.fixture
def engine(tmp_path: Path) -> ComposeEngine:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  web:\n    build: web\n")
    return ComposeEngine([compose], "p", tmp_path / "state" / "override.yaml")


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `docker` that records its arguments and its pid, prints BuildKit-like steps, then
    waits on a child (`sleep $FAKE_SLEEP`, its pid recorded too) and exits $FAKE_EXIT."""
    (tmp_path / "state").mkdir()
    stand_in_docker(
        tmp_path,
        monkeypatch,
        f"echo $$ > {tmp_path}/docker.pid\n"
        'echo "#1 [web internal] load build definition from Dockerfile" >&2\n'
        'echo "#1 transferring dockerfile: 32B done"\n'
        'echo "#2 [web 1/2] FROM base" >&2\n'
        'sleep "${FAKE_SLEEP:-0}" &\n'
        f"echo $! > {tmp_path}/child.pid\n"
        "wait\n"
        'echo "failed to solve: process did not complete successfully" >&2\n'
        'exit "${FAKE_EXIT:-0}"\n',
    )
    return tmp_path


def build(engine: ComposeEngine, seen: list[str]) -> None:
    engine.build_service("web", "p/web:1.0.0", {"VERSION": "1.0.0"}, {}, seen.append)


def test_the_command_line_and_the_steps(engine: ComposeEngine, docker: Path) -> None:
    seen: list[str] = []
    build(engine, seen)
    assert (docker / "argv.txt").read_text().split("\n")[:-1] == [
        "compose", "-f", str(docker / "compose.yaml"), "-p", "p",
        "-f", str(docker / "state" / ".build-web.yaml"), "build", "web",
    ]  # fmt: skip
    assert seen == [
        "   #1 [web internal] load build definition from Dockerfile",
        "   #2 [web 1/2] FROM base",
    ]
    assert not (docker / "state" / ".build-web.yaml").exists()


def test_a_failure_is_one_line_naming_the_build(
    engine: ComposeEngine, docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_EXIT", "17")
    with pytest.raises(OperationFailed) as failed:
        build(engine, [])
    assert failed.value.message == (
        "build p/web:1.0.0 failed: failed to solve: process did not complete successfully"
    )


def pid_in(path: Path) -> int:
    text = path.read_text().strip()
    return int(text) if text else 0


def gone(pid: int) -> bool:
    """The process has ended and been reaped (by us, or by init for an orphan)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_an_interrupted_build_ends_compose_and_its_children(
    engine: ComposeEngine, docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM (a CI job cancelled) reached agentlab only: it said it was terminated while
    `docker compose build`, orphaned, finished the build behind it."""
    monkeypatch.setenv("FAKE_SLEEP", "60")

    def progress(line: str) -> None:
        if "FROM base" in line:
            while not (docker / "child.pid").is_file() or not pid_in(docker / "child.pid"):
                time.sleep(0.01)
            raise KeyboardInterrupt  # what SIGTERM's handler raises too

    with pytest.raises(KeyboardInterrupt):
        engine.build_service("web", "p/web:1.0.0", {}, {}, progress)
    docker_pid = int((docker / "docker.pid").read_text())
    child_pid = pid_in(docker / "child.pid")
    assert gone(docker_pid)
    assert gone(child_pid)
    assert not (docker / "state" / ".build-web.yaml").exists()
