"""Messages that carry results from worker threads back to the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from textual.message import Message

from agentlab.engine.model import EngineEvent
from agentlab.lab.canary_meter import CanaryTraffic
from agentlab.lab.registry import RegistryState
from agentlab.lab.status import LabStatus
from agentlab.lab.watch.events import WatchEvent
from agentlab.rollout.events import RolloutEvent

T = TypeVar("T")


@dataclass(frozen=True)
class Task(Generic[T]):
    """One blocking lab call, run in a worker. On the UI thread afterwards, `done` gets its
    result, or `failed` the error line (after the app has notified the user)."""

    title: str
    call: Callable[[], T]
    done: Callable[[T], object] | None = None
    failed: Callable[[str], object] | None = None


class StatusLoaded(Message):
    """A fresh `lab.status()`, and the primary services (the default selection)."""

    def __init__(self, status: LabStatus, primary: list[str]) -> None:
        super().__init__()
        self.status = status
        self.primary = primary


class StatusFailed(Message):
    """`lab.status()` failed (the engine went away, the compose file broke...)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class EngineEventSeen(Message):
    """A container event from Docker's event stream."""

    def __init__(self, event: EngineEvent) -> None:
        super().__init__()
        self.event = event


class FeedFailed(Message):
    """The event stream ended with an error."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class RolloutEventSeen(Message):
    """A typed rollout event from a runner thread; `watched` when the watcher started the
    rollout (an edit of the lab files), not a key."""

    def __init__(self, event: RolloutEvent, watched: bool = False) -> None:
        super().__init__()
        self.event = event
        self.watched = watched


class WatchEventSeen(Message):
    """A reload, desired-version change, config error or failure from the file watcher."""

    def __init__(self, event: WatchEvent) -> None:
        super().__init__()
        self.event = event


class LogLine(Message):
    """A line for the event log from a worker (progress of `up`)."""

    def __init__(self, text: str, style: str = "") -> None:
        super().__init__()
        self.text = text
        self.style = style


class TaskDone(Message):
    """A task finished; its result goes to `task.done`."""

    def __init__(self, task: Task[Any], result: Any) -> None:
        super().__init__()
        self.task = task
        self.result = result


class TaskFailed(Message):
    """A task raised; `error` is one line, `details` may hold log tails."""

    def __init__(self, task: Task[Any], error: str, details: str = "") -> None:
        super().__init__()
        self.task = task
        self.error = error
        self.details = details


class CanaryTrafficRead(Message):
    """A sample of a canary's per-version traffic (None: no window yet, or none to read;
    `note` says why)."""

    def __init__(self, service: str, traffic: CanaryTraffic | None, note: str = "") -> None:
        super().__init__()
        self.service = service
        self.traffic = traffic
        self.note = note


class RegistryRead(Message):
    """Where the lab's registry is and whether it answers, read off the UI thread."""

    def __init__(self, state: RegistryState | None) -> None:
        super().__init__()
        self.state = state
