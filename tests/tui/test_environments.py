"""The environment switcher: `e` shows every environment side by side (service x
environment, the shown one marked); choosing another ends the app for `run` to reopen."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, OptionList

from agentlab.lab.environments import environment_lab
from agentlab.project.location import load_project
from agentlab.tui.screens.environments import EnvironmentsScreen
from tests.tui.support import capture_log, capture_notifications, make_app, started, wait_for
from tests.tui.test_watch import logged, save
from tests.unit.test_environments import Engines, start, write_project

pytestmark = pytest.mark.asyncio


async def test_side_by_side_then_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTLAB_ENV", raising=False)
    engines = Engines()
    project = load_project([str(write_project(tmp_path))], "shop")
    staging = start(engines, project, "staging", "1.4.1")
    start(engines, project, "prod", "1.3.0")
    app = make_app(environment_lab(project, "staging", engines))
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot, app)
        assert app.title == "agentlab · shop-staging"
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EnvironmentsScreen))
        table = app.screen.query_one(DataTable)
        labels = [str(column.label) for column in table.columns.values()]
        assert labels == ["SERVICE", "DEFAULT", "DEV", "STAGING ●", "PROD"]
        agent = [str(cell) for cell in table.get_row("agent")]
        assert agent[1:3] == ["-", "-"]  # default and dev run nothing
        assert agent[3].startswith("1.4.1 ") and agent[4].startswith("1.3.0 ")
        assert table.get_row("agent")[4].style == "yellow"  # another image than staging's
        assert table.get_row("gateway")[4].style == ""
        options = app.screen.query_one(OptionList)
        assert options.highlighted == 2  # staging, the one shown
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.switch_to == "prod"
    assert staging.name == "shop-staging"


async def test_no_switch_while_a_rollout_runs(tmp_path: Path) -> None:
    engines = Engines()
    project = load_project([str(write_project(tmp_path))], "shop")
    app = make_app(start(engines, project, "dev", "1.3.0"))
    notes = capture_notifications(app)
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot, app)
        app.rollout = type("Running", (), {"running": True, "service": "agent"})()
        app._switch_environment("prod")
        assert app.is_running and app.switch_to is None
        assert ("warning", "the rollout of agent is running (p pauses it)") in notes
        app.rollout = None


async def test_after_a_reload_the_other_environments_are_still_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTLAB_ENV", raising=False)
    engines = Engines()
    project = load_project([str(write_project(tmp_path))], "shop")
    app = make_app(start(engines, project, "default", "1.4.1"))
    log = capture_log(app)
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot, app)
        settings = tmp_path / "agentlab.yaml"
        save(settings, settings.read_text(encoding="utf-8") + "# edited\n")
        await logged(pilot, log, "reloaded agentlab.yaml")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EnvironmentsScreen))
        agent = [str(cell) for cell in app.screen.query_one(DataTable).get_row("agent")]
        assert agent[1].startswith("1.4.1 ")
        assert agent[2:] == ["-", "-", "-"]  # dev, staging and prod run nothing
