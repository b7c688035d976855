"""Traffic, logs, kill, scale, up and down; the palette and the footer; errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.widgets import Input, Log

from agentlab.common.errors import EngineUnavailable
from agentlab.lab.facade import Lab
from agentlab.tui.keys import COMMANDS
from agentlab.tui.palette import LabCommands
from agentlab.tui.screens.confirm import ConfirmDialog
from agentlab.tui.screens.logs import LogsScreen
from agentlab.tui.screens.scale import ScaleDialog
from agentlab.tui.widgets.traffic import TrafficRow
from tests.tui.support import (
    LabFake,
    capture_notifications,
    log_text,
    make_app,
    replica_rows,
    row,
    started,
    wait_for,
)

pytestmark = pytest.mark.asyncio


class Agent(BaseHTTPRequestHandler):
    """A stand-in gateway answering as agent 1.2.0."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("X-Agent-Version", "1.2.0")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway(fake: LabFake) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Agent)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.ports[("gateway", 8080)] = server.server_port
    yield server.server_port
    server.shutdown()
    server.server_close()


async def test_traffic_starts_draws_and_stops(lab: Lab, gateway: int) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await pilot.press("t")

        def drawn() -> bool:
            """a sparkline row for 1.2.0 with requests counted"""
            rows = {r.series_name: r for r in app.query(TrafficRow)}
            return "1.2.0" in rows and "errors" in rows and sum(rows["1.2.0"].series) > 0

        await wait_for(pilot, drawn)
        assert app.traffic is not None and app.traffic.url == f"http://127.0.0.1:{gateway}/"
        assert "20 req/s" in str(app.query_one("#traffic-summary").render())
        await pilot.press("t")
        await wait_for(pilot, lambda: "traffic: total" in log_text(app) and not app.busy)
        assert app.traffic is None
        assert str(app.query_one("#traffic-summary").render()).startswith("stopped")
        assert [r.series_name for r in app.query(TrafficRow)] == ["1.2.0", "errors"]


async def test_logs_of_the_selected_replica(lab: Lab) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        assert logs.container == "lab-agent-1"
        assert list(app.screen.query_one(Log).lines) == ["agent 1.2.0 listening on :8000"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.screen.is_modal)


async def test_kill_the_selected_replica(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await pilot.press("x")
        await wait_for(pilot, lambda: replica_rows(app)["lab-agent-1"][3] == "exited")
        assert fake.called("kill_replica") == [(fake.of("agent")[0].id,)]
        assert "killed lab-agent-1" in log_text(app)
        assert row(app, "#services", "agent")[3] == "unhealthy"


async def test_scale_the_selected_service(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ScaleDialog))
        field = app.screen.query_one(Input)
        assert field.value == "2"
        field.value = "3"
        await pilot.press("enter")
        await wait_for(pilot, lambda: row(app, "#services", "agent")[2] == "3/3")
        assert sorted(replica_rows(app)) == ["lab-agent-1", "lab-agent-2", "lab-agent-3"]
        assert fake.called("add_replicas")[-1] == ("agent", 1)  # one more, joining when ready


async def test_down_asks_first_then_up_brings_it_back(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.pause()
        await pilot.press("enter")  # No has the focus
        await wait_for(pilot, lambda: not app.screen.is_modal)
        assert fake.containers
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await wait_for(pilot, lambda: not app.screen.is_modal)
        assert fake.containers
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: row(app, "#services", "agent")[2:] == ["0/0", "down"])
        assert not fake.containers
        assert "project lab is down" in log_text(app)
        await pilot.press("u")
        await wait_for(pilot, lambda: row(app, "#services", "agent")[2:] == ["2/2", "healthy"])
        assert row(app, "#services", "gateway")[2:] == ["1/1", "healthy"]
        assert "project lab is up" in log_text(app)


async def test_errors_are_notifications_not_crashes(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    notes = capture_notifications(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        fake.unavailable = True
        await pilot.press("u")
        await wait_for(pilot, lambda: "up failed" in log_text(app) and not app.busy)
        off = ("error", "the fake engine is switched off (hint: unavailable=False)")
        assert notes[0] == off  # a status read meanwhile may say it again: never a crash
        assert "up failed: the fake engine is switched off" in log_text(app)
        fake.unavailable = False
        await pilot.press("t")  # no published gateway port
        await wait_for(pilot, lambda: "start traffic failed" in log_text(app) and not app.busy)
        assert any(text.startswith("gateway does not publish port 8080") for _, text in notes)
        assert app.is_running


async def test_a_broken_status_read_is_reported_once(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(lab)
    notes = capture_notifications(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)

        def broken() -> None:
            raise EngineUnavailable("the engine went away", hint="start it")

        monkeypatch.setattr(lab, "status", broken)
        for _ in range(3):
            app.request_refresh()
            await wait_for(pilot, lambda: app.idle)
        assert notes == [("error", "the engine went away (hint: start it)")]
        assert row(app, "#services", "agent")[1] == "1.2.0"  # the last good status stays


async def test_every_action_has_a_key_in_the_footer_and_a_palette_entry(lab: Lab) -> None:
    """The canary's keys (o, a, w) only while a canary runs (tests/tui/test_canary.py)."""
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        bound = {key: b.binding for key, b in app.screen.active_bindings.items()}
        assert not {"o", "a", "w"} & set(bound)  # no canary runs
        bound |= {b.key: b for b in app.BINDINGS if isinstance(b, Binding)}
        for command in COMMANDS:
            assert bound[command.key].show == command.footer  # e: the palette only
            assert bound[command.key].action == command.action
            assert bound[command.key].description == command.label
            assert hasattr(app, f"action_{command.action}")
        provider = LabCommands(app.screen)
        titles = [hit.text async for hit in provider.discover()]
        assert titles == [command.title for command in COMMANDS]
        hits = [hit async for hit in provider.search("kill")]
        assert [hit.text for hit in hits] == ["Kill replica"]


async def test_the_palette_runs_an_action(lab: Lab, fake: LabFake) -> None:
    app = make_app(lab)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, app)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"kill replica")
        commands = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: commands.option_count > 0)
        assert str(commands.get_option_at_index(0).prompt).startswith("Kill replica")
        await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(fake.called("kill_replica")))
