"""EventWakeup: a polling loop's wait ends on a container event, not only on its timeout."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from agentlab.engine.fake_streams import QueueStream
from agentlab.engine.model import EngineEvent
from agentlab.engine.wakeup import EventWakeup, wakes

LONG = 60.0  # a wait this long only ends early when an event wakes it


def event(action: str) -> EngineEvent:
    return EngineEvent(action, "c1", "agent", "lab-agent-1", datetime.now(UTC))


@pytest.fixture
def stream() -> QueueStream:
    return QueueStream()


@pytest.fixture
def feed(stream: QueueStream) -> Iterator[EventWakeup]:
    wakeup = EventWakeup(stream)
    yield wakeup
    wakeup.close()


def test_health_exit_and_start_wake_a_loop_but_our_own_steps_do_not() -> None:
    assert all(wakes(event(a)) for a in ("health_status: healthy", "die", "oom", "start"))
    assert not any(wakes(event(a)) for a in ("create", "kill", "stop", "destroy"))


def test_a_waking_event_ends_waits_until_the_next_mark(
    stream: QueueStream, feed: EventWakeup
) -> None:
    stream.queue.put(event("health_status: healthy"))
    assert feed.wait(LONG) is True
    assert feed.wait(LONG) is True  # not observed yet: still news
    feed.mark()  # the caller observes: what happened so far is in that observation
    assert feed.wait(0.05) is False


def test_other_events_leave_the_wait_to_its_timeout(stream: QueueStream, feed: EventWakeup) -> None:
    stream.queue.put(event("destroy"))
    assert feed.wait(0.2) is False


def test_an_event_during_a_wait_in_another_thread_wakes_it(
    stream: QueueStream, feed: EventWakeup
) -> None:
    woken: list[bool] = []
    waiter = threading.Thread(target=lambda: woken.append(feed.wait(LONG)))
    waiter.start()
    stream.queue.put(event("die"))
    waiter.join(timeout=LONG)
    assert woken == [True]


def test_a_broken_stream_only_makes_waits_fall_back_to_their_timeout() -> None:
    class Broken:
        def __iter__(self) -> Iterator[EngineEvent]:
            raise AttributeError("a JSON line that is not an object")

        def close(self) -> None:
            """Nothing to end."""

    feed = EventWakeup(Broken())
    assert feed.wait(0.05) is False
    feed.close()
