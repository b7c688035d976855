"""A fake-engine lab for the TUI tests: deterministic state, live events, a fixed clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList

from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import HEALTHY, Behaviour
from agentlab.engine.model import ImageInfo
from agentlab.lab.facade import Lab
from agentlab.project.config import SETTINGS_FILE, load_settings
from agentlab.project.location import Project
from agentlab.tui.app import AgentlabApp
from agentlab.tui.screens.versions import VersionPicker
from agentlab.tui.widgets.eventlog import EventLog

REPO = "lab/agent"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)  # the fake engine's wall clock starts here
NOW = EPOCH + timedelta(hours=1, minutes=23, seconds=45)  # the app's frozen clock
SLOW = Behaviour(healthy_after=12)  # turns healthy after a dozen polls (a few seconds)
RECIPES = {  # the agent's catalogue notes, as agentlab.yaml gives them
    "1.4.0": {"note": "starts but never becomes healthy"},
    "1.5.0": {"note": "slow starter"},
    "1.6.0": {"note": "not built yet"},
}


class LabFake(FakeEngine):
    """The fake engine with images that carry a few OCI labels besides the version."""

    def add_image(
        self,
        ref: str,
        *behaviours: Behaviour,
        version: str | None = None,
        digest: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> ImageInfo:
        oci = {
            "org.opencontainers.image.title": ref.split(":")[0],
            "org.opencontainers.image.revision": "0123abc",
            **(labels or {}),
        }
        return super().add_image(ref, *behaviours, version=version, digest=digest, labels=oci)


def make_fake() -> LabFake:
    """agent (2 replicas at 1.2.0) and gateway (1 at 1.0.0); agent versions 1.2.0-2.0.0,
    1.4.0 never healthy, 1.5.0 slow, and a `nightly` tag the policy blocks."""
    fake = LabFake(project="lab", replay=True)
    fake.add_image(f"{REPO}:1.2.0", Behaviour(logs="agent 1.2.0 listening on :8000"))
    fake.add_image(f"{REPO}:1.3.0", digest="sha256:" + "ab" * 32)
    fake.add_image(f"{REPO}:1.4.0", Behaviour(healthy_after=None, health_output="refused"))
    fake.add_image(f"{REPO}:1.5.0", SLOW)
    fake.add_image(f"{REPO}:2.0.0", HEALTHY, labels={"io.agentlab.requires": "gateway>=1.0.0"})
    fake.add_image(f"{REPO}:nightly")
    fake.add_image("lab/gateway:1.0.0")
    fake.add_service("agent", f"{REPO}:1.2.0", replicas=2)
    fake.add_service("gateway", "lab/gateway:1.0.0", replicas=1)
    return fake


def fake_lab(
    directory: Path, fake: LabFake, canary: Mapping[str, Any] | None = None, **rollout: Any
) -> Lab:
    """A Lab for `fake`, with its agentlab.yaml (which the watcher re-reads) and its state
    (override, history, lock) under `directory`; `canary`: agentlab.yaml's canary entries."""
    compose = directory / "compose.yaml"
    compose.write_text("services: {}\n", encoding="utf-8")
    settings = {
        "project": "lab",
        "primary": ["agent"],
        "managed": ["agent", "gateway"],
        "rollout": {"monitor": 0, "timeout": 30, **rollout},
        "catalogue": {"agent": {"image": REPO, "context": ".", "versions": RECIPES}},
        **({"canary": dict(canary)} if canary else {}),
    }
    (directory / SETTINGS_FILE).write_text(yaml.safe_dump(settings), encoding="utf-8")

    return Lab(Project((compose,), load_settings(directory), "lab"), engine_factory=fake.attach)


def make_app(lab: Lab) -> AgentlabApp:
    return AgentlabApp(lab, clock=lambda: NOW)


async def wait_for(
    pilot: Pilot[Any], ready: Callable[[], bool], timeout: float = 20.0, steady: float = 0.0
) -> None:
    """Let the app run until `ready()` holds (and, with `steady`, has kept holding that many
    seconds while the app ran: a settled screen); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    since = None
    while True:
        if not ready():
            since = None
        elif since is None:
            since = time.monotonic()
        if since is not None and time.monotonic() - since >= steady:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {ready.__doc__ or 'a condition'}")
        await pilot.pause(0.05)


def tables_settled(app: AgentlabApp) -> bool:
    """No table on any screen has cells whose column widths are still to be measured
    (Textual measures them on the table's next idle, after a snapshot could be taken)."""
    return not any(
        table._updated_cells or table._require_update_dimensions
        for screen in app.screen_stack
        for table in screen.query(DataTable)
    )


async def remeasure(pilot: Pilot[Any], app: AgentlabApp) -> None:
    """Have every table on every screen measure its columns again from all of its cells,
    then wait until that is done: a snapshot then never shows a column measured from an
    earlier cell (Textual measures after updates, on the table's idle)."""
    for screen in app.screen_stack:
        for table in screen.query(DataTable):
            for row in table.ordered_rows:
                for column in table.ordered_columns:
                    value = table.get_cell(row.key, column.key)
                    table.update_cell(row.key, column.key, value, update_width=True)
    await wait_for(pilot, lambda: tables_settled(app) and app.idle, steady=0.2)


def log_text(app: AgentlabApp) -> str:
    """Everything in the event log, as plain text."""
    return "\n".join(strip.text for strip in app.query_one(EventLog).lines)


def capture_log(app: AgentlabApp) -> list[str]:
    """Record the text of every event log line, unwrapped (`log_text` shows them wrapped)."""
    seen: list[str] = []
    record = app.record

    def note(text: str, style: str = "", at: datetime | None = None) -> None:
        seen.append(text)
        record(text, style, at)

    app.record = note  # type: ignore[method-assign]
    return seen


def capture_notifications(app: AgentlabApp) -> list[tuple[str, str]]:
    """Record (severity, message) of every notification the app raises."""
    seen: list[tuple[str, str]] = []
    notify = app.notify

    def record(message: str, **kwargs: Any) -> None:
        seen.append((kwargs.get("severity", "information"), message))
        notify(message, **kwargs)

    app.notify = record  # type: ignore[method-assign]
    return seen


def row(app: AgentlabApp, table_id: str, key: str) -> list[str]:
    """The plain text of one row of a DataTable, by row key."""
    return [str(cell) for cell in app.query_one(table_id, DataTable).get_row(key)]


async def started(pilot: Pilot[Any], app: AgentlabApp) -> None:
    """Wait until the first status is shown and no task runs."""

    def loaded() -> bool:
        """the first status"""
        return app.status is not None and not app.busy

    await wait_for(pilot, loaded)


def replica_rows(app: AgentlabApp) -> dict[str, list[str]]:
    """The replicas table: plain cells per container name."""
    table = app.query_one("#replica-table", DataTable)
    rows = [[str(cell) for cell in table.get_row(r.key)] for r in table.ordered_rows]
    return {cells[0]: cells for cells in rows}


def versions_of(fake: LabFake, service: str = "agent") -> list[str]:
    """The sorted tags the service's containers run."""
    return sorted(c.image_ref.rsplit(":", 1)[1] for c in fake.of(service))


async def finished(pilot: Pilot[Any], app: AgentlabApp, outcome: str) -> None:
    """Wait until the rollout panel's rollout ended with `outcome` and no task runs."""

    def done() -> bool:
        """the rollout's outcome, with no task left"""
        return app.rollout is not None and app.rollout.outcome == outcome and not app.busy

    await wait_for(pilot, done)


async def shows_version(pilot: Pilot[Any], app: AgentlabApp, version: str) -> None:
    """Wait until the services table shows the agent at `version`."""

    def shown() -> bool:
        """the services table showing the version"""
        return row(app, "#services", "agent")[1] == version

    await wait_for(pilot, shown)


async def pick(pilot: Pilot[Any], app: AgentlabApp, option_id: str) -> None:
    """Highlight an option of the open picker and press enter. Waits for the picker's own
    on_mount (which highlights the current version) so it cannot undo the choice."""
    screen = app.screen
    await wait_for(pilot, lambda: screen.is_mounted and bool(screen.query(OptionList)))
    await pilot.pause()
    options = screen.query_one(OptionList)
    options.highlighted = options.get_option_index(option_id)
    await pilot.pause()
    assert options.highlighted == options.get_option_index(option_id)
    await pilot.press("enter")


async def choose_version(pilot: Pilot[Any], app: AgentlabApp, version: str) -> None:
    """Open the version picker (`v`) and choose `version`."""
    await pilot.press("v")
    await wait_for(pilot, lambda: isinstance(app.screen, VersionPicker))
    await pick(pilot, app, version)


async def roll_from_picker(pilot: Pilot[Any], app: AgentlabApp, version: str) -> None:
    """Open the version picker, choose `version`, and wait until its rollout runs."""
    await choose_version(pilot, app, version)
    await wait_for(pilot, lambda: app.rollout is not None and app.rollout.running)
