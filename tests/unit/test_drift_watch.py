"""`DriftWatch` on the in-memory engine: drift at start is reported, a replica recreated
on another image is reported after its event, and its removal reports the drift gone."""

from __future__ import annotations

import queue
from dataclasses import replace
from pathlib import Path

import pytest

from agentlab.engine.fake import FakeEngine
from agentlab.lab.drift import unknown_line
from agentlab.lab.watch.drift_watch import DriftWatch
from agentlab.lab.watch.events import DriftFound, DriftGone, DriftKnown, DriftUnknown, WatchEvent
from tests.unit.test_lab_facade import REPO, make_facade


def next_event(events: queue.Queue[WatchEvent]) -> WatchEvent:
    return events.get(timeout=10)


def test_drift_is_reported_when_it_appears_and_when_it_goes(tmp_path: Path) -> None:
    fake = FakeEngine(nap=0.0)
    for version in ("1.0.0", "1.1.0"):
        fake.add_image(f"{REPO}:{version}")
    fake.add_service("agent", f"{REPO}:1.0.0", replicas=2)
    [early] = fake.start("agent", f"{REPO}:1.1.0", 1)  # there before the watch starts
    events: queue.Queue[WatchEvent] = queue.Queue()
    watch = DriftWatch(make_facade(tmp_path, fake), events.put)
    watch.start()
    try:
        first = next_event(events)
        assert isinstance(first, DriftFound) and first.subject == fake.containers[early].name
        with fake.lock:
            fake.remove_replica(early)
        gone = next_event(events)
        assert isinstance(gone, DriftGone) and gone.subject == first.subject
        [late] = fake.start("agent", f"{REPO}:1.1.0", 1)
        found = next_event(events)
        assert isinstance(found, DriftFound) and found.subject == fake.containers[late].name
        assert found.line().startswith(f"drift: agent: {found.subject} runs image")
    finally:
        watch.stop()
    assert events.empty()


def test_what_drift_cannot_compare_is_said_as_drift_says_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeEngine(nap=0.0)
    fake.add_image(f"{REPO}:1.0.0")
    fake.add_service("agent", f"{REPO}:1.0.0", replicas=1)
    lab = make_facade(tmp_path, fake)
    reading = lab.drift
    said = "the registry at 127.0.0.1:5000 does not answer: its tags were not compared"
    unknown: list[str | None] = [f"{said} (hint: agentlab up starts it)"]
    monkeypatch.setattr(lab, "drift", lambda: replace(reading(), unknown=unknown[0]))
    events: queue.Queue[WatchEvent] = queue.Queue()
    watch = DriftWatch(lab, events.put)
    watch.start()
    try:
        first = next_event(events)
        assert isinstance(first, DriftUnknown)
        assert first.line() == unknown_line(first.reason) == f"unknown: {unknown[0]}"
        assert first.to_json()["reason"] == unknown[0]
        unknown[0] = None  # the registry answers again
        with fake.lock:
            fake.start("agent", f"{REPO}:1.0.0", 1)  # an event: drift is read again
        assert isinstance(next_event(events), DriftKnown)
    finally:
        watch.stop()
    assert events.empty()
