"""Report drift as it appears while the lab runs: after each container event of the
project, the drift is read again and what changed since the last reading is reported."""

from __future__ import annotations

import threading
from collections.abc import Callable

from agentlab.common.errors import AgentlabError
from agentlab.engine.protocol import EventStream
from agentlab.lab.drift import Drift
from agentlab.lab.facade import Lab
from agentlab.lab.watch.events import (
    DriftFound,
    DriftGone,
    DriftKnown,
    DriftUnknown,
    WatchError,
    WatchEvent,
)

OnDrift = Callable[[WatchEvent], None]


class DriftWatch:
    """One thread on the project's event stream; `on_event` gets DriftFound / DriftGone,
    DriftUnknown / DriftKnown as what could not be compared (the registry) changes, and
    WatchError when a reading fails. The drift present at start is reported first."""

    def __init__(self, lab: Lab, on_event: OnDrift) -> None:
        self._lab = lab
        self._on_event = on_event
        self._known: set[Drift] = set()
        self._unknown: str | None = None
        self._stream: EventStream | None = None
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._run, name="agentlab-drift", daemon=True)

    def start(self) -> None:
        self._stream = self._lab.events()  # opened before the first reading: no gap
        self._worker.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._stream is not None:
            self._stream.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5)

    def _run(self) -> None:
        assert self._stream is not None
        self._read()
        try:
            for _event in self._stream:
                self._read()
        except AgentlabError as error:  # the stream ended: quietly when stop() ended it
            if not self._stopping.is_set():
                self._on_event(WatchError(error.one_line()))

    def _read(self) -> None:
        try:
            report = self._lab.drift()
        except AgentlabError as error:
            self._on_event(WatchError(error.one_line()))
            return
        now = set(report.drifts)
        for drift in sorted(now - self._known, key=lambda d: (d.service, d.subject)):
            self._on_event(DriftFound(drift.service, drift.subject, drift.reason, drift.hint))
        for drift in sorted(self._known - now, key=lambda d: (d.service, d.subject)):
            self._on_event(DriftGone(drift.service, drift.subject))
        self._known = now
        if report.unknown != self._unknown:
            self._on_event(DriftUnknown(report.unknown) if report.unknown else DriftKnown())
            self._unknown = report.unknown
