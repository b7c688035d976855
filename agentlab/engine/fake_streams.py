"""The fake engine's change feed and event stream."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from agentlab.engine.fake_containers import FakeClock
from agentlab.engine.model import EngineEvent


@dataclass
class FakeChanges:
    """A change feed with no events: a wait advances the fake clock by its timeout, and
    naps for real (at most `nap` seconds) so a loop in another thread can be watched."""

    clock: FakeClock
    nap: float

    def mark(self) -> None:
        """No events to forget."""

    def wait(self, timeout: float) -> bool:
        self.clock.sleep(timeout)
        time.sleep(min(max(0.0, timeout), self.nap))
        return False

    def close(self) -> None:
        """Nothing to end."""


@dataclass
class QueueStream:
    """A live event stream a test feeds by hand: events as they are put, until None
    arrives (close() sends it)."""

    queue: queue.Queue[EngineEvent | None] = field(default_factory=queue.Queue)

    def __iter__(self) -> Iterator[EngineEvent]:
        return iter(self.queue.get, None)

    def close(self) -> None:
        self.queue.put(None)


@dataclass
class EventHub:
    """The fake's events: each one logged and put on every open stream, as Docker does."""

    log: list[EngineEvent] = field(default_factory=list)
    _streams: list[queue.Queue[EngineEvent | None]] = field(default_factory=list)

    def subscribe(self, replay: bool) -> QueueStream:
        """A stream of the events from now on (with `replay`, the logged ones first)."""
        stream = QueueStream()
        for past in self.log if replay else ():
            stream.queue.put(past)
        self._streams.append(stream.queue)
        return stream

    def send(self, event: EngineEvent) -> None:
        self.log.append(event)
        for subscriber in self._streams:
            subscriber.put(event)

    def stop(self) -> None:
        """End every open stream."""
        for subscriber in self._streams:
            subscriber.put(None)
        self._streams.clear()
