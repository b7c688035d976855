"""Docker's event stream, read on one long-lived daemon thread.

Not a Textual worker: thread workers run on the event loop's default executor, which
is joined when the app exits, and `lab.events()` never ends by itself, so quitting would
hang. The iterator is never broken out of (python-on-whales would leave its `docker
events` subprocess behind); the thread simply lives as long as the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from textual.message import Message

from agentlab.engine.protocol import EngineEvent
from agentlab.errors import AgentlabError
from agentlab.tui.messages import EngineEventSeen, FeedFailed

# Container actions that change what the screen shows; exec_* (health probes) are noise.
RELEVANT = frozenset(
    {
        "create",
        "start",
        "restart",
        "die",
        "kill",
        "oom",
        "stop",
        "destroy",
        "pause",
        "unpause",
        "health_status",
    }
)


def relevant(event: EngineEvent) -> bool:
    """True for lifecycle and health events (`health_status: healthy` included)."""
    return event.action.split(":", 1)[0].strip() in RELEVANT


class EventFeed:
    """Posts an EngineEventSeen for every relevant event, a FeedFailed if the stream breaks.
    `post` must tolerate a closed app (the stream outlives it)."""

    def __init__(
        self, events: Callable[[], Iterable[EngineEvent]], post: Callable[[Message], object]
    ) -> None:
        self._events = events
        self._post = post
        self._thread = threading.Thread(target=self._run, name="agentlab-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._events():
                if relevant(event):
                    self._post(EngineEventSeen(event))
        except AgentlabError as error:
            self._post(FeedFailed(error.one_line()))
        except Exception as error:  # the docker CLI died, the engine restarted...
            self._post(FeedFailed(f"{type(error).__name__}: {error}"))
