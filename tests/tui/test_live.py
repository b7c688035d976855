"""Docker's events drive the screen: a change shows before any status read, reads that
began before an event do not undo it, and an idle app makes no Docker call.
(How each event changes a status: test_parts.)"""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from typing import Any

import pytest
from textual.pilot import Pilot

from agentlab.engine.model import EngineEvent, Replica
from agentlab.lab.facade import Lab
from agentlab.lab.status import LabStatus
from agentlab.tui import app as app_module
from agentlab.tui.app import SAFETY_REFRESH, AgentlabApp
from agentlab.tui.messages import FeedFailed
from tests.tui.support import (
    NOW,
    LabFake,
    capture_log,
    log_text,
    make_app,
    replica_rows,
    row,
    started,
    wait_for,
)

pytestmark = pytest.mark.asyncio


class HeldReads:
    """Wraps `lab.status`: each read looks at the engine at once, then returns only when
    the test lets it go (`release`), so the screen can be checked while reads are held."""

    def __init__(self, lab: Lab) -> None:
        self.permits = threading.Semaphore(0)
        self.started = 0
        self.done = 0
        read = lab.status

        def held(replicas: list[Replica] | None = None) -> LabStatus:
            status = read(replicas)
            self.started += 1
            self.permits.acquire(timeout=30)
            self.done += 1
            return status

        lab.status = held  # type: ignore[method-assign]

    def release(self, reads: int = 1000) -> None:
        for _ in range(reads):
            self.permits.release()


def count_ticks(app: AgentlabApp) -> list[int]:
    """How many times the app's tick ran (one counter, shared)."""
    ticks = [0]
    tick = app.tick

    def counted() -> None:
        ticks[0] += 1
        tick()

    app.tick = counted  # type: ignore[method-assign]
    return ticks


# ---- in the app ---------------------------------------------------------------------------


async def test_an_event_shows_before_any_status_read(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        reads = HeldReads(app.lab)
        try:
            victim = fake.of("agent")[0]
            with fake.lock:
                fake.kill_replica(victim.id)

            def exited() -> bool:
                """the killed replica exited in both tables"""
                return replica_rows(app)[victim.name][3:5] == ["exited", "-"] and row(
                    app, "#services", "agent"
                )[2:] == ["1/2", "unhealthy"]

            await wait_for(pilot, exited)
            assert reads.done == 0
            assert f"{victim.name}: healthy → exited" in log_text(app)
            fake.send_event(EngineEvent("start", victim.id, "agent", victim.name, NOW))
            await wait_for(
                pilot, lambda: replica_rows(app)[victim.name][3:5] == ["running", "starting"]
            )
            fake.send_event(
                EngineEvent("health_status: healthy", victim.id, "agent", victim.name, NOW)
            )
            await wait_for(pilot, lambda: row(app, "#services", "agent")[2:] == ["2/2", "healthy"])
            other = fake.of("agent")[1]
            with fake.lock:
                fake.remove_replica(other.id)
            await wait_for(pilot, lambda: other.name not in replica_rows(app))
            assert reads.done == 0
        finally:
            reads.release()
        await wait_for(pilot, lambda: app.idle)


async def test_a_read_begun_before_an_event_does_not_undo_it(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        reads = HeldReads(app.lab)
        try:
            app.request_refresh()
            await wait_for(pilot, lambda: reads.started == 1)  # it saw the replica running
            victim = fake.of("agent")[0]
            with fake.lock:
                fake.kill_replica(victim.id)
            await wait_for(pilot, lambda: replica_rows(app)[victim.name][3] == "exited")
            reads.release(1)  # shown, then the read the event asked for begins
            await wait_for(pilot, lambda: reads.done == 1 and reads.started == 2)
            assert replica_rows(app)[victim.name][3] == "exited"
        finally:
            reads.release()
        await wait_for(pilot, lambda: app.idle)


async def test_idle_ticks_advance_uptimes_without_docker_calls(
    lab: Lab, fake: LabFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "TICK", 0.05)
    now = [NOW]
    app = make_app(lab)
    app.clock = lambda: now[0]
    ticks = count_ticks(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await wait_for(pilot, lambda: app.idle)
        calls = len(fake.calls)
        now[0] = NOW + timedelta(minutes=2)
        seen = ticks[0]
        await wait_for(pilot, lambda: ticks[0] >= seen + 5)
        assert replica_rows(app)["lab-agent-1"][5] == "1h25m"
        assert fake.calls[calls:] == []


async def test_ticks_read_the_status_when_it_is_old_or_events_stopped(
    lab: Lab, fake: LabFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "TICK", 0.05)
    app = make_app(lab)
    log = capture_log(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await wait_for(pilot, lambda: app.idle)
        reads = len(fake.called("replicas"))
        app.read_at -= SAFETY_REFRESH
        await wait_for(pilot, lambda: len(fake.called("replicas")) == reads + 1)
        app.post_message(FeedFailed("the engine went away"))
        await wait_for(pilot, lambda: len(fake.called("replicas")) >= reads + 4)
        assert log[-1] == "event stream stopped: the engine went away; refreshing every 0.05 s"


async def test_a_replica_recreated_on_another_image_shows_as_drift_after_its_event(
    lab: Lab, fake: LabFake
) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        seen = capture_log(app)
        victim = fake.of("agent")[0]
        with fake.lock:  # recreated outside agentlab, on another version
            fake.remove_replica(victim.id)
            [stranger] = fake.start("agent", "lab/agent:1.3.0", 1)
        name = fake.containers[stranger].name

        def marked() -> bool:
            """the new replica is marked as drifted in both tables"""
            marked_row = f"{name} drift" in replica_rows(app)  # rows are keyed by that cell
            return marked_row and row(app, "#services", "agent")[0] == "agent drift"

        await wait_for(pilot, marked)
        assert any(line.startswith(f"drift: agent: {name} runs image") for line in seen)
        await wait_for(pilot, lambda: app.idle)


async def test_a_drifted_replica_destroyed_while_the_status_was_read_is_not_logged(
    lab: Lab, fake: LabFake
) -> None:
    """A read saw the replica on another image; its `destroy` came while the read ran: the
    log said `drift:` about a replica that no longer existed, and no `drift gone` followed."""
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        seen = capture_log(app)
        reads = HeldReads(app.lab)
        try:
            with fake.lock:
                [stranger] = fake.start("agent", "lab/agent:1.3.0", 1)
            name = fake.containers[stranger].name
            await wait_for(pilot, lambda: reads.started == 1)  # it saw the stranger
            with fake.lock:
                fake.remove_replica(stranger)
            await wait_for(pilot, lambda: any(line.startswith("destroy") for line in seen))
        finally:
            reads.release()
        await wait_for(pilot, lambda: app.idle and reads.done >= 2)
        assert name not in replica_rows(app)
        assert not [line for line in seen if line.startswith("drift") and name in line], seen


async def drifted_stranger(pilot: Pilot[Any], fake: LabFake, seen: list[str]) -> str:
    """A replica of agent started on another image; its id once the log said its drift."""
    with fake.lock:
        [stranger] = fake.start("agent", "lab/agent:1.3.0", 1)
    name = fake.containers[stranger].name
    await wait_for(pilot, lambda: any(line.startswith(f"drift: agent: {name}") for line in seen))
    return stranger


async def test_a_drift_that_goes_is_logged_as_gone(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        seen = capture_log(app)
        stranger = await drifted_stranger(pilot, fake, seen)
        name = fake.containers[stranger].name
        with fake.lock:
            fake.remove_replica(stranger)
        await wait_for(pilot, lambda: f"drift gone: agent: {name}" in seen)
        await wait_for(pilot, lambda: app.idle)


async def test_a_drift_is_not_said_gone_while_a_rollout_of_its_service_hides_it(
    lab: Lab, fake: LabFake
) -> None:
    """A read taken while a rollout of the service runs does not check its drift: the log
    said `drift gone`, then `drift:` again at the next read."""
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        seen = capture_log(app)
        stranger = await drifted_stranger(pilot, fake, seen)
        name = fake.containers[stranger].name
        lab.history().start_rollout(
            "agent", "1.2.0", "lab/agent:1.2.0", "1.3.0", "lab/agent:1.3.0", 1, os.getpid()
        )
        app.request_refresh()
        await wait_for(pilot, lambda: app.status is not None and "agent" in app.status.unchecked)
        await wait_for(pilot, lambda: app.idle)
        assert not [line for line in seen if line.startswith("drift gone")], seen
        assert app.status is not None and app.status.drift_of(name) is not None
