"""Docker's event stream, read on one long-lived daemon thread.

Not a Textual worker: thread workers run on the event loop's default executor, which
is joined when the app exits, and the stream blocks until an event comes. `stop()`
closes the stream (ending its `docker events` process), which ends the thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.message import Message

from agentlab.common.errors import AgentlabError
from agentlab.engine.protocol import EventStream
from agentlab.tui.messages import EngineEventSeen, FeedFailed


class EventFeed:
    """Posts an EngineEventSeen for every event, a FeedFailed if the stream breaks.
    `post` must tolerate a closed app."""

    def __init__(
        self, events: Callable[[], EventStream], post: Callable[[Message], object]
    ) -> None:
        self._open = events
        self._stream: EventStream | None = None
        self._stopping = False
        self._post = post
        self._thread = threading.Thread(target=self._run, name="agentlab-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the stream and its process; the thread then returns."""
        self._stopping = True
        if self._stream is not None:
            self._stream.close()

    def _run(self) -> None:
        try:
            self._stream = self._open()
            if self._stopping:
                self._stream.close()
            for event in self._stream:  # lifecycle and health events only (the port's word)
                self._post(EngineEventSeen(event))
        except AgentlabError as error:
            self._post(FeedFailed(error.one_line()))
        except Exception as error:  # the docker CLI died, the engine restarted...
            self._post(FeedFailed(f"{type(error).__name__}: {error}"))
