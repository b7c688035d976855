"""SVG snapshots of the main screen, the version picker and the rollout form.

The fake engine, a frozen clock and a fixed terminal size keep them deterministic.
Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update` and look at them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot
from textual.screen import Screen

from agentlab.lab.facade import Lab
from agentlab.rollout.events import ReplicaCounts, RolloutStarted, StepStarted
from agentlab.traffic.load import TrafficReport
from agentlab.tui.app import AgentlabApp
from agentlab.tui.screens.rollout_form import RolloutForm
from agentlab.tui.screens.versions import VersionPicker
from agentlab.tui.widgets.traffic import TrafficPanel, TrafficRow
from tests.tui.support import (
    NOW,
    REPO,
    LabFake,
    log_text,
    make_app,
    remeasure,
    tables_settled,
    wait_for,
)

SIZE = (120, 36)
TRAFFIC = TrafficReport(  # what a generator reports a few seconds into a rollout
    url="http://127.0.0.1:8080/",
    offered_rps=20,
    duration=12.5,
    sent=250,
    ok=247,
    failed=3,
    ok_series={
        "1.2.0": [20, 20, 19, 20, 20, 20, 14, 13, 13, 10, 10, 10, 6],
        "1.3.0": [0, 0, 0, 0, 0, 0, 6, 7, 7, 10, 10, 10, 4],
    },
    failed_series=[0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0],
)
Snap = Callable[..., bool]
STEADY = 0.5  # seconds a screen must stay settled (idle, tables measured) before a snapshot


def settle(
    app: AgentlabApp, press: str = "", screen: type[Screen[Any]] | None = None, starts: int = 3
) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Wait for the first status and the containers' start events, then press a key and
    wait for its screen."""

    async def run_before(pilot: Pilot[Any]) -> None:
        def ready() -> bool:
            """a settled main screen"""
            return (
                app.status is not None
                and app.idle
                and log_text(app).count("start") == starts
                and tables_settled(app)
            )

        await wait_for(pilot, ready, steady=STEADY)
        if press:
            assert screen is not None, "a key press opens a screen to wait for"
            await pilot.press(press)
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, screen) and app.idle and tables_settled(app),
                steady=STEADY,
            )
        await remeasure(pilot, app)

    return run_before


def test_main_screen(snap_compare: Snap, lab: Lab) -> None:
    app = make_app(lab)
    assert snap_compare(app, terminal_size=SIZE, run_before=settle(app))


def test_version_picker(snap_compare: Snap, lab: Lab) -> None:
    app = make_app(lab)
    assert snap_compare(app, terminal_size=SIZE, run_before=settle(app, "v", VersionPicker))


def test_rollout_form(snap_compare: Snap, lab: Lab) -> None:
    app = make_app(lab)
    assert snap_compare(app, terminal_size=SIZE, run_before=settle(app, "r", RolloutForm))


def test_main_screen_during_a_rollout(snap_compare: Snap, lab: Lab, fake: LabFake) -> None:
    """The rollout panel fed with runner events (fixed times) over a half-done service, and
    the traffic panel drawing a fixed report."""
    fake.start("agent", f"{REPO}:1.3.0", 1)
    app = make_app(lab)
    wait = settle(app, starts=4)

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait(pilot)
        settings = "rolling; max surge 1, max unavailable 0; failure action rollback"
        for event in (
            RolloutStarted("agent", "1.2.0", "1.3.0", 2, "rolling", settings, at=NOW),
            StepStarted(1, "start 1 new", at=NOW),
            ReplicaCounts(3, 3, 1, 2, "1.3.0", at=NOW),
            StepStarted(2, "drain and remove 1 old", at=NOW),
        ):
            app.emit(event)
        await wait_for(pilot, lambda: app.rollout is not None and "2." in app.rollout.step)
        app.query_one(TrafficPanel).show(TRAFFIC, running=True)
        await wait_for(
            pilot,
            lambda: len(app.query(TrafficRow)) == 3 and app.idle and tables_settled(app),
            steady=STEADY,
        )
        await remeasure(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
