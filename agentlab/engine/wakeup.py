"""A ChangeFeed over an engine event stream: polling loops wake on events, not on a timer.

Waiting for health by polling costs a `ps` + `inspect` every interval and sees a change
half an interval late on average (Compose's own `--wait` polls, and returns ~0.4 s after
the last container turned healthy). A thread reads the event stream and raises a flag on
the events that change what a loop observes; `wait` sleeps until the flag or a timeout.
The timeout stays a fallback poll, so a missed or ended stream only makes waits slower.
"""

from __future__ import annotations

import threading

from agentlab.engine.model import EngineEvent
from agentlab.engine.protocol import EventStream

WAKING_ACTIONS = ("start", "die", "oom", "health_status")


def wakes(event: EngineEvent) -> bool:
    """A container (re)started, exited, or changed health ("health_status: healthy")."""
    return event.action.startswith(WAKING_ACTIONS)


class EventWakeup:
    """Wakes `wait` when the stream delivers an event that `wakes`."""

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream
        self._changed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="agentlab-wakeup", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                if wakes(event):
                    self._changed.set()
        except Exception:  # the stream ended or broke, however: waits fall back to their
            pass  # timeouts, and no traceback lands on a TUI's screen

    def mark(self) -> None:
        self._changed.clear()  # what happened before is in the observation that follows

    def wait(self, timeout: float) -> bool:
        return self._changed.wait(max(0.0, timeout))

    def close(self) -> None:
        self._stream.close()
        self._reader.join(timeout=5)
