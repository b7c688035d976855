"""The agentlab Textual app: the lab live on one screen, every CLI action a key away."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header

from agentlab.lab.status import LabStatus
from agentlab.lab.watch.events import (
    ConfigError,
    DesiredChanged,
    DriftGone,
    Reloaded,
    WatchError,
)
from agentlab.rollout.events import ReplicaCounts, RolloutFinished
from agentlab.tui.actions import OUTCOME_SEVERITY, LabActions
from agentlab.tui.base import while_running
from agentlab.tui.canary_actions import TRAFFIC_TICK
from agentlab.tui.environments import EnvironmentActions
from agentlab.tui.feed import EventFeed
from agentlab.tui.keys import bindings
from agentlab.tui.live import apply_event, apply_events
from agentlab.tui.messages import (
    EngineEventSeen,
    FeedFailed,
    LogLine,
    RolloutEventSeen,
    StatusFailed,
    StatusLoaded,
    Task,
    WatchEventSeen,
)
from agentlab.tui.palette import LabCommands
from agentlab.tui.registry_header import RegistryHeader
from agentlab.tui.rollout_view import advance, line_style
from agentlab.tui.view import HEALTH_STYLES, replica_health
from agentlab.tui.widgets.eventlog import EventLog
from agentlab.tui.widgets.replicas import ReplicasPanel
from agentlab.tui.widgets.rollout import RolloutPanel, on_screen
from agentlab.tui.widgets.services import ServicesTable
from agentlab.tui.widgets.traffic import TrafficPanel

TICK = 5.0  # seconds: uptimes advance from the last status, without a Docker call
SAFETY_REFRESH = 60.0  # seconds: a full status read as a net, though events drive the screen
EVENT_STYLES = {"start": "green", "restart": "yellow", "die": "red", "kill": "red", "oom": "red"}
WATCH_STYLES = {
    Reloaded: "cyan",
    DesiredChanged: "bold cyan",
    ConfigError: "yellow",
    WatchError: "red",
}


class AgentlabApp(RegistryHeader, EnvironmentActions, LabActions):
    """Services, replicas, rollout progress, traffic and events; keys for every action."""

    CSS_PATH = "agentlab.tcss"
    TITLE = "agentlab"
    BINDINGS: ClassVar[list[BindingType]] = bindings()
    COMMANDS = App.COMMANDS | {LabCommands}

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            yield ServicesTable(id="services")
            yield ReplicasPanel(id="replicas")
        yield RolloutPanel(id="rollout")
        with Horizontal(id="bottom"):
            yield TrafficPanel(id="traffic")
            yield EventLog(id="events")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = self.header_title()
        self.follow_registry()
        self.record(f"watching {', '.join(map(self.watcher.label, self.watcher.files))}", "dim")
        self.run_task(Task("watch the lab files", self.watcher.start))
        self.request_refresh()
        self.feed = EventFeed(self.lab.events, self.post_safely)
        self.feed.start()
        self.set_interval(TICK, self.tick)
        self.set_interval(TRAFFIC_TICK, self.tick_canary_traffic)
        self.run_task(Task("unfinished rollouts", self.lab.unfinished, self._warn_unfinished))

    def _warn_unfinished(self, lines: list[str]) -> None:
        for line in lines:
            self.notify(f"{line} (c resumes, z undoes)", severity="warning", markup=False)
            self.record(line, "yellow")

    # ---- status -------------------------------------------------------------

    @while_running
    def tick(self) -> None:
        """Advance the uptimes; re-read the status when the last read is SAFETY_REFRESH old,
        and every tick while the event stream is down, the last read failed, or another
        process runs a rollout (its end may come with no container event)."""
        elsewhere = self.status is not None and bool(self.status.elsewhere)  # until it ends
        if self.feed_down or self.status_error or elsewhere or self.status_age() >= SAFETY_REFRESH:
            self.request_refresh()
        elif self.status is not None:
            self.main(ReplicasPanel).show_uptimes(self.clock())

    @while_running
    def on_status_loaded(self, message: StatusLoaded) -> None:
        # Events seen while the read ran may be newer than what it saw.
        self.status_error = None
        self._show_status(apply_events(message.status, self.events_since_read), message.primary)
        self.status_settled()

    def _show_status(self, status: LabStatus, primary: list[str]) -> None:
        if self.status is not None and status.unchecked:  # not read now: as last read
            kept = [d for d in self.status.drift if d.service in status.unchecked]
            status = replace(status, drift=(*status.drift, *kept))
        previous, self.status = self.status, status
        if previous is not None:
            self._record_health_changes(previous, status)
        before = set(previous.drift if previous else ())
        for drift in sorted(set(status.drift) - before, key=lambda d: (d.service, d.subject)):
            self.record(f"drift: {drift.line()}", "yellow")
        for drift in sorted(before - set(status.drift), key=lambda d: (d.service, d.subject)):
            self.record(DriftGone(drift.service, drift.subject).line(), "green")
        names = [s.name for s in status.services]
        default = next((n for n in [*primary, *names] if n in names), None)
        table = self.main(ServicesTable)
        table.show(status, table.selected or default)
        self.show_selection()

    @while_running
    def on_status_failed(self, message: StatusFailed) -> None:
        if message.error != self.status_error:  # once per distinct error, not every 5 s
            self.notify(message.error, title="status", severity="error", markup=False)
            self.record(f"status: {message.error}", "red")
        self.status_error = message.error
        self.status_settled()

    def _record_health_changes(self, before: LabStatus, after: LabStatus) -> None:
        seen = {r.id: replica_health(r) for s in before.services for r in s.replicas}
        for replica in (r for s in after.services for r in s.replicas):
            was, now = seen.get(replica.id), replica_health(replica)
            if was is not None and was != now:
                self.record(f"{replica.name}: {was} → {now}", HEALTH_STYLES.get(now, ""))

    @on(DataTable.RowHighlighted, "#services")
    @while_running
    def show_selection(self) -> None:
        """Replicas of the selected service; the rollout panel with live replicas; the
        canary's keys in the footer while one runs."""
        self.canary_changed()
        if self.status is None:
            return
        self.main(ReplicasPanel).show(
            self.service_status(self.selected_service), self.status, self.clock()
        )
        panel = self.main(RolloutPanel)
        if self.status.elsewhere and not on_screen(self.rollout):
            other = self.status.elsewhere[0]
            panel.show_elsewhere(other, self.service_status(other.service))
            return
        service = self.rollout.service if self.rollout else None
        panel.show(self.rollout, self.service_status(service))

    # ---- events -------------------------------------------------------------

    @while_running
    def on_engine_event_seen(self, message: EngineEventSeen) -> None:
        event = message.event
        if not event.action.startswith("health_status"):  # health shows as a change below
            code = event.attributes.get("exitCode")
            suffix = f" (exit {code})" if event.action == "die" and code else ""
            self.record(
                f"{event.action:<8} {event.name}{suffix}",
                EVENT_STYLES.get(event.action, "dim"),
                at=event.time,
            )
        if self.status is not None:  # at once; the read requested below reconciles
            self.events_since_read.append(event)
            updated = apply_event(self.status, event)
            if updated is not self.status:
                self._show_status(updated, [])
        self.request_refresh()

    @while_running
    def on_feed_failed(self, message: FeedFailed) -> None:
        self.feed_down = True
        self.record(f"event stream stopped: {message.error}; refreshing every {TICK:g} s", "red")

    @while_running
    def on_rollout_event_seen(self, message: RolloutEventSeen) -> None:
        event = message.event
        self.rollout = advance(self.rollout, event)
        self.record(event.line(), line_style(event), at=event.at)
        self.show_selection()
        if isinstance(event, ReplicaCounts | RolloutFinished):
            self.request_refresh()
        if message.watched and isinstance(event, RolloutFinished):  # keys: `_rollout_done`
            self.lab.reload()
            severity = OUTCOME_SEVERITY.get(event.outcome, "error")
            self.notify(event.message, title=event.outcome, severity=severity, markup=False)

    @while_running
    def on_watch_event_seen(self, message: WatchEventSeen) -> None:
        """The watcher's reloads, desired-version changes, config errors and failures."""
        event = message.event
        self.record(event.line(), WATCH_STYLES.get(type(event), ""), at=event.at)
        if isinstance(event, Reloaded):
            self.lab = self.watcher.lab  # the last good config, agentlab.yaml included
            self.request_refresh()
        elif isinstance(event, ConfigError):
            self.notify(event.line(), title="watch", severity="warning", markup=False)
        elif isinstance(event, WatchError):
            self.notify(event.line(), title="watch", severity="error", markup=False)

    @while_running
    def on_log_line(self, message: LogLine) -> None:
        self.record(message.text, message.style)

    def on_unmount(self) -> None:
        # Off the UI thread, so the terminal is restored at once; not a daemon, so the
        # process ends only once a rollout the watcher runs has paused.
        threading.Thread(target=self.watcher.stop, name="agentlab-watch-stop").start()
        self.feed.stop()
        if self.traffic is not None:
            self.traffic.stop()
