"""The main screen follows the lab: services, replicas, labels, and Docker's events."""

from __future__ import annotations

import pytest

from agentlab.lab.facade import Lab
from agentlab.tui.widgets.rollout import RolloutPanel
from tests.tui.support import (
    REPO,
    LabFake,
    log_text,
    make_app,
    replica_rows,
    row,
    started,
    wait_for,
)

pytestmark = pytest.mark.asyncio


async def test_services_and_replicas_show_the_lab(lab: Lab) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        assert row(app, "#services", "agent") == ["agent", "1.2.0", "2/2", "healthy"]
        assert row(app, "#services", "gateway") == ["gateway", "1.0.0", "1/1", "healthy"]
        assert app.selected_service == "agent"  # the primary service
        replicas = replica_rows(app)
        assert sorted(replicas) == ["lab-agent-1", "lab-agent-2"]
        assert replicas["lab-agent-1"][1:] == [
            "1.2.0",
            "000000000000",
            "running",
            "healthy",
            "1h23m",
        ]
        labels = str(app.query_one("#labels").render())
        assert "image.version: 1.2.0" in labels
        assert "image.revision: 0123abc" in labels
        assert not app.query_one(RolloutPanel).display


async def test_selecting_a_service_shows_its_replicas(lab: Lab) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        app.query_one("#services").focus()
        await pilot.press("down")
        await wait_for(pilot, lambda: "lab-gateway-1" in replica_rows(app))
        assert app.selected_service == "gateway"
        assert app.selected_replica is not None
        assert app.selected_replica.name == "lab-gateway-1"


async def test_a_container_event_updates_the_screen(lab: Lab, fake: LabFake) -> None:
    """A change made behind the app's back arrives through the event stream."""
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        victim = fake.of("agent")[0]
        with fake.lock:
            fake.kill_replica(victim.id)

        def shown() -> bool:
            """the killed replica shown as exited"""
            return replica_rows(app)[victim.name][3] == "exited"

        await wait_for(pilot, shown)
        assert row(app, "#services", "agent")[2:] == ["1/2", "unhealthy"]
        assert f"die      {victim.name}" in log_text(app)


async def test_health_changes_are_logged(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        with fake.lock:
            fake.start("agent", f"{REPO}:1.5.0", 1, settled=False)  # healthy after 12 polls

        def logged() -> bool:
            """the new replica's health change in the log"""
            app.request_refresh()  # each status read is one poll: the fake's time passes
            return "lab-agent-3: starting → healthy" in log_text(app)

        await wait_for(pilot, logged)
