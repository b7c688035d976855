"""A rollout's availability as it goes: the ready/total/updated counts (reported when they
or the version the phase goes to change) and the time the service had no ready replica at all."""

from __future__ import annotations

from collections.abc import Callable, Collection

from agentlab.engine.model import Replica
from agentlab.rollout.events import ReplicaCounts, RolloutEvent
from agentlab.rollout.planner import ReplicaView


class Availability:
    """Counts the ready replicas at each observation; accounts the downtime."""

    def __init__(self, desired: int, emit: Callable[[RolloutEvent], None]) -> None:
        self.desired, self.emit = desired, emit
        self._down_since: float | None = None  # when the service last had no ready replica
        self._downtime = 0.0
        self._counts: tuple[int, int, int, str] | None = None
        self._views: list[ReplicaView] = []  # as last observed, less the withdrawn

    def observe(
        self, old: list[ReplicaView], new: list[ReplicaView], now: float, version: str
    ) -> None:
        """Report changed counts (`new`: replicas at `version`, the one the phase goes to);
        account the time the service has no ready replica."""
        self._views = [*old, *new]
        ready = self._account(now)
        counts = (ready, len(old) + len(new), len(new), version)
        if counts != self._counts:
            self._counts = counts
            self.emit(ReplicaCounts(*counts[:3], desired=self.desired, version=version))

    def withdraw(self, ids: Collection[str], now: float) -> None:
        """Count replicas `ids` as serving no more from `now` (out of the name, before
        their stop: clients no longer reach them)."""
        self._views = [view for view in self._views if view.id not in ids]
        self._account(now)

    def _account(self, now: float) -> int:
        ready = sum(view.ready for view in self._views)
        if ready == 0 and self.desired > 0 and self._down_since is None:
            self._down_since = now
        elif ready > 0 and self._down_since is not None:
            self._downtime += now - self._down_since
            self._down_since = None
        return ready

    def downtime(self, now: float) -> float:
        """Seconds with no ready replica so far (a spell still open counts up to `now`)."""
        open_spell = now - self._down_since if self._down_since is not None else 0.0
        return self._downtime + open_spell


def serves(replica: Replica, name_when_ready: bool) -> bool:
    """Whether an old replica serves: ready, and in the service's name when replicas
    answer it only while ready (one an interrupted rollout left out of it serves none)."""
    return replica.ready and not (name_when_ready and replica.named is False)
