"""A state directory agentlab cannot use (a file where it should be, a read-only mount)
stops every command that needs it with one line, exit 2, before any change; they printed
`internal error: NotADirectoryError` (exit 1) before. Commands that do not need it run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentlab.cli import commands_base, main
from agentlab.engine.fake import FakeEngine
from agentlab.lab.facade import Lab
from agentlab.project.config import load_settings
from agentlab.project.location import Project, demo_lab
from agentlab.state import directory
from tests.cli.fake_lab import web_lab

NEEDS_STATE = [
    ["status"],
    ["drift"],
    ["history"],
    ["up"],
    ["down"],
    ["rollout", "web", "--to", "2.0.0"],
    ["rollout", "resume"],
    ["rollout", "undo", "web"],
    ["rollback", "web"],
    ["scale", "web", "3"],
    ["weight", "web", "30"],
    ["promote", "web"],
    ["abort", "web"],
    ["watch", "--duration", "1"],
]
CHANGES = (
    "add_replicas",
    "remove_replica",
    "stop_replica",
    "up",
    "down",
    "leave_name",
    "join_name",
)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    return web_lab(tmp_path, monkeypatch)


def refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main.main(args) == 2, args
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("args", NEEDS_STATE, ids=" ".join)
def test_a_file_where_the_state_directory_goes(
    args: list[str], fake: FakeEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".agentlab").write_text("not a directory\n")
    line = refused(args, capsys)
    assert line.startswith(
        f"error: state directory {tmp_path}/.agentlab/lab is not usable: "
        f"{tmp_path}/.agentlab is a file, not a directory (hint: "
    ), line
    assert not [call for call, _ in fake.calls if call in CHANGES]
    assert set(fake.images_of("web")) == {"lab/web:1.0.0"}


@pytest.mark.parametrize("args", NEEDS_STATE, ids=" ".join)
def test_a_read_only_state_directory(
    args: list[str],
    fake: FakeEngine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """root writes through chmod: a read-only mount is what stops it, as access(2) and
    statvfs(2) report it (tests/cli cannot mount; `unshare -m` did, by hand)."""
    monkeypatch.setattr("agentlab.state.directory.os.access", lambda *_: False)
    monkeypatch.setattr(directory, "_read_only_mount", lambda _: True)
    line = refused(args, capsys)
    assert "is not usable: Read-only file system (hint: " in line, line
    assert not [call for call, _ in fake.calls if call in CHANGES]


def test_commands_that_need_no_state_still_run(
    fake: FakeEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".agentlab").write_text("not a directory\n")
    assert main.main(["versions"]) == 0
    assert main.main(["logs", fake.of("web")[0].name]) == 0


def test_the_demo_labs_state_under_a_read_only_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo lab keeps its state in $XDG_STATE_HOME/agentlab/<project>."""
    engine = FakeEngine(nap=0.0)
    for service in ("gateway", "agent", "collector"):
        engine.add_image(f"agentlab-demo/{service}:1.0.0")
        engine.add_service(service, f"agentlab-demo/{service}:1.0.0")
    xdg = tmp_path / "state"
    xdg.write_text("a file\n")
    monkeypatch.setenv("XDG_STATE_HOME", str(xdg))

    def open_lab(_: object) -> Lab:
        project = Project((demo_lab(),), load_settings(demo_lab().parent), "t-xdg")
        return Lab(project, engine_factory=engine.attach)

    monkeypatch.setattr(commands_base, "open_lab", open_lab)
    for module in ("commands", "rollout_commands"):
        monkeypatch.setattr(f"agentlab.cli.{module}.open_lab", open_lab)
    for args in (["status"], ["history"], ["down"], ["rollout", "undo", "agent"]):
        line = refused(args, capsys)
        assert f"state directory {xdg}/agentlab/t-xdg is not usable: {xdg} is a file" in line
    assert not os.path.isdir(xdg)
