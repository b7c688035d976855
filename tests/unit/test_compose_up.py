"""`ComposeEngine.up` runs `docker compose up` itself: its command line and its errors,
against a stand-in docker CLI on PATH that records its arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import EngineUnavailable, OperationFailed
from agentlab.engine import cli as cli_module
from agentlab.engine.compose import ComposeEngine


@pytest.fixture
def engine(tmp_path: Path) -> ComposeEngine:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  web:\n    image: a/web:1\n")
    return ComposeEngine([compose], "p", tmp_path / "override.yaml")


def test_scaling_one_service_without_touching_the_others(
    engine: ComposeEngine, cli: Path, tmp_path: Path
) -> None:
    engine.up(["web"], scales={"web": 4}, recreate=False, deps=False)
    assert cli.read_text().split("\n")[:-1] == [
        "compose", "-f", str(tmp_path / "compose.yaml"), "-p", "p",
        "up", "--detach", "--pull", "never", "--no-build", "--scale", "web=4", "--no-recreate",
        "--no-deps",
        "web",
    ]  # fmt: skip


def test_the_whole_project_with_the_override(
    engine: ComposeEngine, cli: Path, tmp_path: Path
) -> None:
    assert engine.override is not None
    engine.override.write_text("services: {}\n")
    engine.up()
    args = cli.read_text().split("\n")[:-1]
    assert args[:7] == ["compose", "-f", str(tmp_path / "compose.yaml"),
                        "-f", str(engine.override), "-p", "p"]  # fmt: skip
    assert args[7:] == ["up", "--detach", "--pull", "never", "--no-build"]


def test_no_services_runs_nothing(engine: ComposeEngine, cli: Path) -> None:
    engine.up([])
    assert not cli.exists()


def test_a_failure_is_one_line_naming_compose_up(
    engine: ComposeEngine, cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_EXIT", "1")
    monkeypatch.setenv("FAKE_STDERR", "Container p-web-1  Creating\nError: no such image a/web:1\n")
    with pytest.raises(OperationFailed) as failed:
        engine.up(["web"])
    assert failed.value.message == "compose up failed: Error: no such image a/web:1"


def test_a_missing_compose_plugin_is_an_unavailable_engine(
    engine: ComposeEngine, cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_EXIT", "1")
    monkeypatch.setenv("FAKE_STDERR", "docker: 'compose' is not a docker command.\n")
    with pytest.raises(EngineUnavailable, match="Compose v2 is not installed"):
        engine.up()


def test_an_interrupted_wait_ends_the_docker_process_too(
    engine: ComposeEngine, cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SLEEP", "30")
    process = cli_module.start_docker(["compose", "up"])
    real_communicate = process.communicate

    def communicate(timeout: float | None = None) -> tuple[str, str]:
        monkeypatch.setattr(process, "communicate", real_communicate)
        raise KeyboardInterrupt  # Ctrl-C while waiting

    monkeypatch.setattr(process, "communicate", communicate)
    with pytest.raises(KeyboardInterrupt):
        cli_module.finish(["compose", "up"], process, None, what="compose up")
    assert process.poll() is not None  # killed and reaped, not left running
