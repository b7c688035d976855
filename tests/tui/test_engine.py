"""End to end on the real engine: the TUI rolls the demo lab's agent from 1.2.0 to 1.3.0."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentlab.lab.facade import Lab
from agentlab.project.location import load_project
from agentlab.tui.app import AgentlabApp
from tests.conftest import LabRun
from tests.tui.support import capture_log, choose_version, log_text, row, started, wait_for

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("demo_images"), pytest.mark.asyncio]
DEADLINE = 90.0  # seconds the rollout may take (a bound, not a measurement)


def event_streams(project: str) -> list[int]:
    """Pids of this process's `docker events` children for the project."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid")
        )
        if (
            parent == os.getpid()
            and b"events" in command
            and any(project.encode() in part for part in command)
        ):
            pids.append(int(entry.name))
    return pids


async def test_version_picker_rolls_the_agent_out(
    demo_lab: LabRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLAB_GATEWAY_PORT", "0")  # as the lab was brought up
    up = demo_lab("up", "--version", "1.2.0")
    assert up.code == 0, up.err
    lab = Lab(load_project([str(demo_lab.compose_file)], demo_lab.project))
    app = AgentlabApp(lab)
    log = capture_log(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await wait_for(
            pilot, lambda: row(app, "#services", "agent")[1:] == ["1.2.0", "3/3", "healthy"]
        )
        assert app.selected_service == "agent"
        await choose_version(pilot, app, "1.3.0")
        await wait_for(pilot, lambda: app.rollout is not None)
        assert app.rollout is not None and app.rollout.to_version == "1.3.0"

        def rolled_out() -> bool:
            """the rollout to finish and the table to show agent 1.3.0"""
            finished = app.rollout is not None and app.rollout.outcome is not None
            return finished and row(app, "#services", "agent")[1] == "1.3.0"

        await wait_for(pilot, rolled_out, timeout=DEADLINE)
        assert app.rollout is not None and app.rollout.outcome == "complete"
        await wait_for(pilot, lambda: row(app, "#services", "agent")[2:] == ["3/3", "healthy"])
        text = log_text(app)
        assert "complete: agent runs 1.3.0 on 3 replicas" in text
        assert f"start    {demo_lab.project}-agent-4" in text  # from Docker's event stream
        watcher = [line for line in log if line.startswith(("desired:", "watch error", "config"))]
        assert watcher == [], watcher  # the app's own pins are no edit to the file watcher
    assert event_streams(demo_lab.project) == []  # closing the app ends `docker events`
    status = demo_lab("status", "--json").json()
    agent = next(s for s in status["services"] if s["service"] == "agent")
    assert {r["version"] for r in agent["replicas"]} == {"1.3.0"}
