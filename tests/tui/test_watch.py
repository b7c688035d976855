"""The file watcher inside the TUI: edits are picked up, a changed version rolls out in the
rollout panel, a broken edit changes nothing, and the app's own rollouts are no edit.

Files are saved like an editor saves them (a temporary file renamed over the original).
A negative ("the watcher did nothing else") is checked with a sentinel edit: the watcher
handles edits in order, so once the sentinel's reload is logged, any reaction to the
earlier writes would be logged too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, ProgressBar

from agentlab.lab.facade import Lab
from agentlab.tui.screens.rollout_form import RolloutForm
from agentlab.tui.widgets.rollout import RolloutPanel
from tests.tui.support import (
    REPO,
    LabFake,
    capture_log,
    capture_notifications,
    choose_version,
    fake_lab,
    finished,
    make_app,
    roll_from_picker,
    row,
    shows_version,
    started,
    versions_of,
    wait_for,
)

pytestmark = pytest.mark.asyncio
OVERRIDE = ".agentlab/lab/override.yaml"


def save(path: Path, text: str) -> None:
    """Save like an editor: write a temporary file beside the file, rename it over."""
    temp = path.with_name(f".{path.name}.swp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def pin(lab: Lab, version: str) -> None:
    """The user edits the agent's pin in the override."""
    save(lab.override_path, f"services:\n  agent:\n    image: {REPO}:{version}\n")


def count(log: list[str], text: str) -> int:
    """How many lines of the log contain `text`."""
    return sum(text in line for line in log)


async def logged(pilot: Pilot[Any], log: list[str], text: str, times: int = 1) -> None:
    """Wait until `text` is in `times` lines of the event log."""

    def seen() -> bool:
        """a line in the event log"""
        return count(log, text) >= times

    await wait_for(pilot, seen)


async def sentinel(pilot: Pilot[Any], log: list[str], lab: Lab) -> None:
    """Edit agentlab.yaml (a comment) and wait until that edit is reloaded."""
    settings = lab.project.directory / "agentlab.yaml"
    times = count(log, "reloaded agentlab.yaml") + 1
    save(settings, settings.read_text(encoding="utf-8") + f"# sentinel {times}\n")
    await logged(pilot, log, "reloaded agentlab.yaml", times)


async def test_the_log_names_the_watched_files(lab: Lab) -> None:
    app = make_app(lab)
    log = capture_log(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        assert log[0] == f"watching compose.yaml, agentlab.yaml, {OVERRIDE}"


async def test_edits_are_reloaded_and_the_settings_picked_up(lab: Lab) -> None:
    app = make_app(lab)
    log = capture_log(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        compose = lab.project.compose_files[0]
        compose.write_text("services: {}\n# edited\n", encoding="utf-8")  # in place
        await logged(pilot, log, "reloaded compose.yaml")
        settings = lab.project.directory / "agentlab.yaml"
        text = settings.read_text(encoding="utf-8")
        save(settings, text.replace("monitor: 0", "monitor: 0\n  max_surge: 2"))
        await logged(pilot, log, "reloaded agentlab.yaml")
        assert app.lab.project.settings.rollout["max_surge"] == 2
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutForm))
        assert app.screen.query_one("#max_surge", Input).value == "2"


async def test_an_edited_version_rolls_out_in_the_rollout_panel(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    log, notes = capture_log(app), capture_notifications(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        pin(lab, "1.5.0")  # slow to turn healthy: the panel shows the rollout a while
        panel = app.query_one(RolloutPanel)

        def rolling() -> bool:
            """the rollout panel following the watcher's rollout"""
            return panel.display and "lab-agent-3" in str(panel.query_one("#new").render())

        await wait_for(pilot, rolling)
        assert panel.border_title == "Rolling out agent: 1.2.0 → 1.5.0"
        assert panel.query_one(ProgressBar).total == 2
        await finished(pilot, app, "complete")
        await shows_version(pilot, app, "1.5.0")
        assert not panel.display
        assert versions_of(fake) == ["1.5.0", "1.5.0"]
        assert f"reloaded {OVERRIDE}" in log
        assert "desired: agent 1.2.0 -> 1.5.0" in log
        assert count(log, "rollout agent 1.2.0 -> 1.5.0 (2 replicas;") == 1
        assert ("information", "agent runs 1.5.0 on 2 replicas") in notes

        def recorded() -> bool:
            """the revision recorded (by the watcher's thread, just after the outcome; the
            one of what ran before is complete from the start)"""
            current = lab.history().current("agent")
            return current is not None and current.version == "1.5.0"

        await wait_for(pilot, recorded)
        current = lab.history().current("agent")
        assert current is not None
        assert current.cause == "watch: agent 1.2.0 -> 1.5.0"


@pytest.mark.parametrize(
    ("name", "text"),
    [(OVERRIDE, "services: [agent"), ("agentlab.yaml", "rollout: {monitor: 0\n")],
)
async def test_a_broken_edit_is_reported_and_changes_nothing(
    lab: Lab, fake: LabFake, name: str, text: str
) -> None:
    app = make_app(lab)
    log, notes = capture_log(app), capture_notifications(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        settings = app.lab.project.settings
        save(lab.project.directory / name, text)
        await logged(pilot, log, f"config error: {name}: invalid YAML")
        line = next(line for line in log if "config error" in line)
        assert line.endswith("; keeping the last good config")
        assert ("warning", line) in notes
        assert app.lab.project.settings is settings
        assert not count(log, "reloaded") and not count(log, "desired:")
        app.request_refresh()
        await wait_for(pilot, lambda: app.idle)
        assert row(app, "#services", "agent") == ["agent", "1.2.0", "2/2", "healthy"]
        assert versions_of(fake) == ["1.2.0", "1.2.0"] and app.rollout is None


def quiet_watcher(log: list[str]) -> None:
    """The watcher took none of the app's pins for an edit: no reload, no rollout, no error."""
    assert not count(log, f"reloaded {OVERRIDE}"), log
    assert not count(log, "desired:") and not count(log, "watch error"), log


@pytest.mark.parametrize(
    ("version", "timeout", "outcome"),
    [("1.5.0", 30, "complete"), ("1.4.0", 1, "rolled-back")],  # 1.4.0 never turns healthy
)
async def test_the_apps_own_rollout_is_no_edit(
    tmp_path: Path, fake: LabFake, version: str, timeout: int, outcome: str
) -> None:
    """Both rollouts last long enough for the watcher to see their pins while they run."""
    lab = fake_lab(tmp_path, fake, timeout=timeout)
    app = make_app(lab)
    log = capture_log(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await choose_version(pilot, app, version)
        await finished(pilot, app, outcome)
        await sentinel(pilot, log, lab)
        assert count(log, "rollout agent 1.2.0") == 1, log
        quiet_watcher(log)
        assert len(lab.history().revisions("agent")) == 2  # what ran before, and this one


async def test_the_apps_paused_rollout_is_no_edit(lab: Lab, fake: LabFake) -> None:
    """Paused, the override pins the new version over mixed replicas: still no edit."""
    app = make_app(lab)
    log = capture_log(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await roll_from_picker(pilot, app, "1.5.0")
        await pilot.press("p")
        await finished(pilot, app, "paused")
        await sentinel(pilot, log, lab)
        quiet_watcher(log)
        await pilot.press("c")
        await finished(pilot, app, "complete")
        await sentinel(pilot, log, lab)
        quiet_watcher(log)
        assert versions_of(fake) == ["1.5.0", "1.5.0"]


async def test_pause_and_resume_a_rollout_an_edit_started(lab: Lab, fake: LabFake) -> None:
    """`p` pauses the watcher's rollout; `c` resumes it as the app's own: no second one."""
    app = make_app(lab)
    log = capture_log(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        pin(lab, "1.5.0")
        await wait_for(pilot, lambda: app.rollout is not None and app.rollout.running)
        await pilot.press("p")
        await finished(pilot, app, "paused")
        assert app.query_one(RolloutPanel).display
        await sentinel(pilot, log, lab)
        await pilot.press("c")
        await finished(pilot, app, "complete")
        await shows_version(pilot, app, "1.5.0")
        await sentinel(pilot, log, lab)
        assert count(log, "rollout agent 1.2.0 -> 1.5.0") == 2, log  # started, then resumed
        assert count(log, "desired:") == 1 and not count(log, "watch error"), log
        assert versions_of(fake) == ["1.5.0", "1.5.0"]


async def test_quitting_pauses_a_rollout_an_edit_started(lab: Lab) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        pin(lab, "1.5.0")
        await wait_for(pilot, lambda: app.rollout is not None and app.rollout.running)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    assert [e.state for e in lab.history().unfinished("agent")] == ["paused"]  # then ended
