"""The app's state and plumbing: blocking lab calls in workers, debounced status reads.

Every Docker call runs in a thread worker and comes back as a message; errors become
notifications and never end the app.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from textual import work
from textual.app import App
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget

from agentlab.common.errors import AgentlabError
from agentlab.engine.model import EngineEvent, Replica
from agentlab.lab.facade import Lab
from agentlab.lab.status import LabStatus, ServiceStatus
from agentlab.lab.watch.events import WatchEvent
from agentlab.lab.watch.watcher import Watcher
from agentlab.rollout.events import RolloutEvent
from agentlab.traffic.load import TrafficGenerator
from agentlab.tui.messages import (
    LogLine,
    RolloutEventSeen,
    StatusFailed,
    StatusLoaded,
    Task,
    TaskDone,
    TaskFailed,
    WatchEventSeen,
)
from agentlab.tui.rollout_view import RolloutView
from agentlab.tui.widgets.eventlog import EventLog
from agentlab.tui.widgets.replicas import ReplicasPanel
from agentlab.tui.widgets.services import ServicesTable

REFRESH_DEBOUNCE = 0.1  # seconds: a burst of container events costs one status read
AppT = TypeVar("AppT", bound="LabAppBase")
P = ParamSpec("P")
W = TypeVar("W", bound=Widget)


def local_now() -> datetime:
    """The wall clock in the local time zone (uptimes and log times use it)."""
    return datetime.now().astimezone()


def internal_error(error: Exception) -> str:
    return f"internal error: {type(error).__name__}: {error}"


def while_running(
    handler: Callable[Concatenate[AppT, P], None],
) -> Callable[Concatenate[AppT, P], None]:
    """Skip a message handled while the app shuts down: its widgets are already gone."""

    @functools.wraps(handler)
    def guarded(app: AppT, /, *args: P.args, **kwargs: P.kwargs) -> None:
        if app.is_running:
            handler(app, *args, **kwargs)

    return guarded


class LabAppBase(App[None]):
    """Holds the lab and what the app knows of it; runs lab calls off the UI thread."""

    def __init__(self, lab: Lab, clock: Callable[[], datetime] = local_now) -> None:
        super().__init__()
        self.lab = lab
        self.clock = clock
        self.status: LabStatus | None = None
        self.status_error: str | None = None
        self.rollout: RolloutView | None = None
        self.pause_flag = threading.Event()
        self.rollout_idle = threading.Event()  # clear while the app's own rollout task runs
        self.rollout_idle.set()
        self.quitting = False  # quit once the running rollout has paused
        self.traffic: TrafficGenerator | None = None
        self.traffic_ticks: Timer | None = None  # redraws the traffic panel while it runs
        self.busy: list[str] = []
        self.watcher = Watcher(lab, self.watched)
        self._refresh_pending = False
        self._refreshing = False
        self._refresh_again = False
        self.feed_down = False  # the event stream ended: reads are all the app has
        self.read_at = time.monotonic()  # when the last status read ended
        self.events_since_read: list[EngineEvent] = []  # applied since the last read began

    # ---- from worker threads ----------------------------------------------

    def post_safely(self, message: Message) -> None:
        """post_message from a thread, ignoring an app that has already closed."""
        with contextlib.suppress(RuntimeError):
            self.post_message(message)

    def emit(self, event: RolloutEvent) -> None:
        """The rollout runner's event sink: each event becomes a message."""
        self.post_safely(RolloutEventSeen(event))

    def watched(self, event: WatchEvent | RolloutEvent) -> None:
        """The watcher's event sink: its rollouts drive the rollout panel like the app's own."""
        if isinstance(event, RolloutEvent):
            self.post_safely(RolloutEventSeen(event, watched=True))
        else:
            self.post_safely(WatchEventSeen(event))

    def progress(self, line: str) -> None:
        """A progress sink for lab calls that report lines (`up`)."""
        self.post_safely(LogLine(line))

    # ---- tasks --------------------------------------------------------------

    def run_task(self, task: Task[Any]) -> None:
        """Run a blocking lab call in a worker; the header shows it until it ends."""
        self.busy.append(task.title)
        self.sub_title = " · ".join(self.busy)
        self._work(task)

    @work(thread=True, exit_on_error=False)
    def _work(self, task: Task[Any]) -> None:
        try:
            result = task.call()
        except AgentlabError as error:
            self.post_safely(TaskFailed(task, error.one_line(), error.details))
            return
        except Exception as error:  # an engine surprise or a bug: report it, keep running
            self.post_safely(TaskFailed(task, internal_error(error)))
            return
        self.post_safely(TaskDone(task, result))

    def _finished(self, task: Task[Any]) -> None:
        self.busy.remove(task.title)
        self.sub_title = " · ".join(self.busy)
        self.request_refresh()

    @while_running
    def on_task_done(self, message: TaskDone) -> None:
        self._finished(message.task)
        if message.task.done is not None:
            message.task.done(message.result)

    @while_running
    def on_task_failed(self, message: TaskFailed) -> None:
        self._finished(message.task)
        self.notify(message.error, title=message.task.title, severity="error", markup=False)
        self.record(f"{message.task.title} failed: {message.error}", "red")
        if message.details:
            self.record(message.details, "dim")
        if message.task.failed is not None:
            message.task.failed(message.error)

    # ---- status -------------------------------------------------------------

    def request_refresh(self) -> None:
        """Re-read the status soon; requests within REFRESH_DEBOUNCE share one read."""
        if not self._refresh_pending:
            self._refresh_pending = True
            self.set_timer(REFRESH_DEBOUNCE, self._refresh_now)

    def _refresh_now(self) -> None:
        self._refresh_pending = False
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True
        self.events_since_read = []
        self._load_status()

    @property
    def idle(self) -> bool:
        """No task running and no status read running or due."""
        return not (self.busy or self._refresh_pending or self._refreshing)

    def status_settled(self) -> None:
        """Called when a status read ended; reads again if asked to meanwhile."""
        self._refreshing = False
        self.read_at = time.monotonic()
        if self._refresh_again:
            self._refresh_again = False
            self.request_refresh()

    def status_age(self) -> float:
        """Seconds since the last status read ended."""
        return time.monotonic() - self.read_at

    @work(thread=True, exit_on_error=False, group="status")
    def _load_status(self) -> None:
        try:
            self.post_safely(StatusLoaded(self.lab.status(), self.lab.primary))
        except AgentlabError as error:
            self.post_safely(StatusFailed(error.one_line()))
        except Exception as error:
            self.post_safely(StatusFailed(internal_error(error)))

    # ---- the main screen ----------------------------------------------------

    def main(self, kind: type[W]) -> W:
        """A widget of the main screen, also while a modal is open over it."""
        return self.screen_stack[0].query_one(kind)

    @property
    def selected_service(self) -> str | None:
        return self.main(ServicesTable).selected

    @property
    def selected_replica(self) -> Replica | None:
        return self.main(ReplicasPanel).selected

    def service_status(self, name: str | None) -> ServiceStatus | None:
        if self.status is None:
            return None
        return next((s for s in self.status.services if s.name == name), None)

    # ---- the event log ------------------------------------------------------

    def record(self, text: str, style: str = "", at: datetime | None = None) -> None:
        """Add a line to the event log, stamped with `at` (default: now) in local time."""
        moment = (at or self.clock()).astimezone(self.clock().tzinfo)
        self.main(EventLog).add(moment.strftime("%H:%M:%S"), text, style)
