"""Removals in flight, and the one step that must not overlap them.

A rollout stops and removes old replicas on threads of their own while it starts new
ones. Copies made through the Engine API do not mind; `compose up --scale` does: it counts
the service's containers and inspects them, so a container removed meanwhile makes it
create one replica too many, or fail. That step waits until no removal is in flight, and
holds new ones back until it is done.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class RemovalsInFlight:
    """Counts the stops and removals running; `none()` waits until there are none."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0

    @contextmanager
    def one(self) -> Iterator[None]:
        """Around one stop or removal (they may run side by side)."""
        with self._changed:
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    @contextmanager
    def none(self) -> Iterator[None]:
        """Around a step that counts the containers: after the removals in flight, and
        with none starting until it is done."""
        with self._changed:
            self._changed.wait_for(lambda: self._running == 0)
            yield
