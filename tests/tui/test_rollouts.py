"""Version picker, rollout form, pause, resume, undo and rollback, on the fake engine.

The runner polls every 0.25 s of real time, so these rollouts take a second or two."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, OptionList, Select

from agentlab.common.errors import EngineUnavailable
from agentlab.lab.facade import Lab
from agentlab.lab.unfinished import refuse_over_unfinished
from agentlab.tui import app as app_module
from agentlab.tui import run
from agentlab.tui.app import AgentlabApp
from agentlab.tui.screens.rollback import RollbackPicker
from agentlab.tui.screens.rollout_form import RolloutForm
from agentlab.tui.screens.versions import VersionPicker
from agentlab.tui.widgets.rollout import RolloutPanel
from tests.tui.support import (
    REPO,
    LabFake,
    capture_notifications,
    choose_version,
    fake_lab,
    finished,
    log_text,
    make_app,
    pick,
    roll_from_picker,
    shows_version,
    started,
    versions_of,
    wait_for,
)

pytestmark = pytest.mark.asyncio


async def test_version_picker_lists_marks_and_explains(lab: Lab) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, VersionPicker))
        options = app.screen.query_one(OptionList)
        prompts = {o.id: str(o.prompt) for o in options.options}
        assert list(prompts) == ["1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0", "2.0.0", "nightly"]
        assert prompts["1.2.0"].startswith("● 1.2.0") and "current" in prompts["1.2.0"]
        assert "never becomes healthy" in prompts["1.4.0"]
        assert "build" in prompts["1.6.0"]
        assert "requires gateway>=1.0.0" in prompts["2.0.0"]
        assert "blocked: 'nightly' is not a semver tag" in prompts["nightly"]
        assert options.get_option("nightly").disabled
        assert options.highlighted_option is not None
        assert options.highlighted_option.id == "1.2.0"
        await pilot.press("enter")  # the current version: nothing to do
        assert isinstance(app.screen, VersionPicker)
        assert not app.busy
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.screen.is_modal)
        assert not app.busy


async def test_choosing_a_version_rolls_out_to_it(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await choose_version(pilot, app, "1.3.0")
        await finished(pilot, app, "complete")
        await shows_version(pilot, app, "1.3.0")
        assert versions_of(fake) == ["1.3.0", "1.3.0"]
        assert not app.query_one(RolloutPanel).display
        text = log_text(app)
        assert "rollout agent 1.2.0 -> 1.3.0 (2 replicas;" in text
        assert "complete: agent runs 1.3.0 on 2 replicas" in text
        current = lab.history().current("agent")
        assert current is not None
        assert current.cause == "tui rollout agent --to 1.3.0"


async def test_rollout_form_is_prefilled_and_sends_changes(tmp_path: Path, fake: LabFake) -> None:
    lab = fake_lab(tmp_path, fake, max_surge=2, failure_action="pause")
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutForm))
        form = app.screen
        assert isinstance(form, RolloutForm)
        assert form.query_one("#version", Select).value == "1.3.0"  # the next version
        assert form.query_one("#strategy", Select).value == "rolling"
        assert form.query_one("#max_surge", Input).value == "2"
        assert form.query_one("#max_unavailable", Input).value == "0"
        assert form.query_one("#failure_action", Select).value == "pause"
        form.query_one("#version", Select).value = "1.3.0"
        form.query_one("#max_unavailable", Input).value = "1"
        request = form.request()
        assert request is not None
        assert (request.version, request.options) == ("1.3.0", {"max_unavailable": "1"})
        await pilot.click("Button.-primary")
        await finished(pilot, app, "complete")
        assert app.rollout is not None
        assert "max surge 2, max unavailable 1; failure action pause" in app.rollout.settings
        await shows_version(pilot, app, "1.3.0")


async def test_pause_then_resume(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    notes = capture_notifications(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await choose_version(pilot, app, "1.5.0")  # slow to turn healthy: time to pause
        panel = app.query_one(RolloutPanel)

        def waiting() -> bool:
            """the rollout panel waiting for the first new replica"""
            return panel.display and "lab-agent-3" in str(panel.query_one("#new").render())

        await wait_for(pilot, waiting)
        assert panel.border_title == "Rolling out agent: 1.2.0 → 1.5.0"
        assert "2. wait for 1 new replica ready" in str(panel.query_one("#step").render())
        assert "lab-agent-1" in str(panel.query_one("#old").render())
        await pilot.press("p")
        assert app.pause_flag.is_set()
        await finished(pilot, app, "paused")
        assert app.query_one(RolloutPanel).display  # a paused rollout stays on screen
        assert "paused" in str(app.query_one("#step").render())
        assert (
            "warning",
            "paused on request (hint: agentlab rollout resume agent, or "
            "agentlab rollout undo agent)",
        ) in notes
        await pilot.press("c")
        await finished(pilot, app, "complete")
        await shows_version(pilot, app, "1.5.0")
        assert versions_of(fake) == ["1.5.0", "1.5.0"]


async def test_pause_then_undo(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await roll_from_picker(pilot, app, "1.5.0")
        await pilot.press("p")
        await finished(pilot, app, "paused")
        await pilot.press("z")
        await finished(pilot, app, "undone")
        assert "undone: agent runs 1.2.0 on 2 replicas" in log_text(app)
        await shows_version(pilot, app, "1.2.0")
        assert versions_of(fake) == ["1.2.0", "1.2.0"]


async def test_rollback_to_a_revision_from_history(lab: Lab, fake: LabFake) -> None:
    history = lab.history()
    first = history.begin_revision("agent", "1.2.0", f"{REPO}:1.2.0", "sha256:1", None, "up")
    history.finish_revision("agent", first.number, "complete")
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await choose_version(pilot, app, "1.3.0")
        await finished(pilot, app, "complete")
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackPicker))
        prompts = [str(o.prompt) for o in app.screen.query_one(OptionList).options]
        assert prompts[0].startswith("● #2   1.3.0")  # newest first, current marked
        assert prompts[1].startswith("  #1   1.2.0")
        # the cursor starts on the previous revision (where `rollback` goes), not the newest
        assert app.screen.query_one(OptionList).highlighted == 1
        await pick(pilot, app, "1")
        await finished(pilot, app, "complete")
        await shows_version(pilot, app, "1.2.0")
        assert versions_of(fake) == ["1.2.0", "1.2.0"]
        current = lab.history().current("agent")
        assert current is not None
        assert current.cause == "rollback --to-revision 1"


async def test_a_failed_rollout_rolls_back_and_says_so(tmp_path: Path, fake: LabFake) -> None:
    lab = fake_lab(tmp_path, fake, timeout=1)  # 1.4.0 never turns healthy
    app = make_app(lab)
    notes = capture_notifications(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await choose_version(pilot, app, "1.4.0")
        await finished(pilot, app, "rolled-back")
        assert any(s == "error" and "rolled back to 1.2.0" in m for s, m in notes)
        assert "rolling back: lab-agent-3 (1.4.0) not ready after 1s" in log_text(app)
        await shows_version(pilot, app, "1.2.0")
        await pilot.press("b")  # the picker says why the revision was rolled back
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackPicker))
        newest = str(app.screen.query_one(OptionList).options[0].prompt).splitlines()
        assert newest[0].split()[:3] == ["#2", "1.4.0", "rolled-back"] and "(rolling)" in newest[0]
        assert "not ready after 1s" in newest[1] and "rolled back to 1.2.0" in newest[1]


async def test_one_rollout_at_a_time(lab: Lab) -> None:
    app = make_app(lab)
    notes = capture_notifications(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await roll_from_picker(pilot, app, "1.5.0")
        await pilot.press("r")
        assert ("warning", "the rollout of agent is running (p pauses it)") in notes
        assert not app.screen.is_modal
        await pilot.press("p")
        await finished(pilot, app, "paused")


async def test_a_rollout_that_raises_frees_the_panel(
    lab: Lab, fake: LabFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(lab)
    notes = capture_notifications(app)

    def broken(service: str, count: int, named: bool = True) -> list[str]:
        raise EngineUnavailable("the Docker engine went away", hint="start it again")

    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        monkeypatch.setattr(fake, "add_replicas", broken)
        await choose_version(pilot, app, "1.3.0")
        await finished(pilot, app, "failed")
        assert notes[-1] == (
            "error",
            "the Docker engine went away (hint: start it again)",
        )
        await wait_for(pilot, lambda: not app.query_one(RolloutPanel).display)
        monkeypatch.undo()
        await pilot.press("z")  # the interrupted rollout can be undone from here
        await finished(pilot, app, "undone")
        assert versions_of(fake) == ["1.2.0", "1.2.0"]


async def test_quitting_pauses_a_running_rollout_then_says_so(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(lab)
    notes = capture_notifications(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await roll_from_picker(pilot, app, "1.5.0")
        await pilot.press("q")
        assert app.pause_flag.is_set()
        assert (
            "warning",
            "pausing the rollout of agent after its current step, then quitting"
            " (q again quits now)",
        ) in notes
        await wait_for(pilot, lambda: not app.is_running)
    # the app ended only once the rollout had paused
    assert [e.state for e in lab.history().unfinished("agent")] == ["paused"]
    monkeypatch.setattr(AgentlabApp, "run", lambda _: None)  # as after that quit
    assert run(lab) == 0
    assert re.fullmatch(
        r"warning: the rollout of agent 1\.2\.0 -> 1\.5\.0 is paused after \d+ steps?"
        r" \(hint: agentlab rollout resume agent, or agentlab rollout undo agent\)\n",
        capsys.readouterr().err,
    )


async def test_quitting_while_the_rollout_prepares_pauses_it_too(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`q` before the rollout's first event (while it builds its image) quit without
    pausing it: the rollout ran to its end with no screen."""
    entered, release = threading.Event(), threading.Event()

    def held(*args: Any) -> None:
        entered.set()
        release.wait(30)
        refuse_over_unfinished(*args)

    monkeypatch.setattr("agentlab.lab.rollouts.refuse_over_unfinished", held)
    app = make_app(lab)
    notes = capture_notifications(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await choose_version(pilot, app, "1.5.0")
        await wait_for(pilot, entered.is_set)
        await pilot.press("q")
        assert app.pause_flag.is_set() and app.is_running
        line = "pausing the rollout after its current step, then quitting (q again quits now)"
        assert ("warning", line) in notes
        release.set()
        await wait_for(pilot, lambda: not app.is_running)
    assert [e.state for e in lab.history().unfinished("agent")] == ["paused"]


async def test_a_rollout_another_process_runs_is_shown_and_p_says_so(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`agentlab rollout` from a shell: the panel stayed hidden, and `p` said "no rollout is
    running"."""
    monkeypatch.setattr(app_module, "TICK", 0.05)
    history = lab.history()
    shell = os.getppid()  # a live process that is not this one
    rollout = history.start_rollout(
        "agent", "1.2.0", f"{REPO}:1.2.0", "1.3.0", f"{REPO}:1.3.0", 1, shell
    )
    app = make_app(lab)
    notes = capture_notifications(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        panel = app.query_one(RolloutPanel)
        await wait_for(pilot, lambda: panel.display)
        line = f"the rollout of agent 1.2.0 -> 1.3.0 runs in another agentlab process (pid {shell})"
        assert line in str(panel.query_one("#step").render())
        assert "lab-agent-1" in str(panel.query_one("#old").render())
        await pilot.press("p")
        assert ("warning", f"{line}: Ctrl-C there stops it") in notes
        history.set_rollout_state(rollout, "complete")  # it ends: no container event needed
        await wait_for(pilot, lambda: not panel.display)
