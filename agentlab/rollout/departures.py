"""How old replicas leave: out of the traffic layer and the service's name, the
deregistration delay, then SIGTERM with the drain timeout and removal.

While they wait out the delay the rollout goes on: like a terminating pod in Kubernetes, a
replica no client can reach any more no longer counts against the surge, so the next new
replica starts at once instead of after the delay and the stop (the runner does this only
for a rolling update with room to surge: with max surge 0 an old replica must be gone
before a new one starts, its port or its volume may be the reason).

Old replicas go in removal order: the highest address first. Leaving the name reconnects a
replica, and on a network with no configured subnet it comes back at the lowest free
address: had a replica with a lower address been removed already, it would move there and
the connections in flight to it would be cut. Highest first, every freed address lies above
the replicas still to leave.

Once due, a replica's SIGTERM, drain and removal (0.3-0.6 s of engine calls, more with a
slow drain) run on a thread of their own: the runner goes on probing and starting the
new replicas meanwhile, and reports the removal (event, journal) when it has finished.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from agentlab.engine.model import Replica, ServiceSpec
from agentlab.engine.protocol import ChangeFeed, Engine
from agentlab.rollout.events import ReplicaDraining, ReplicaLeft, ReplicaRemoved, RolloutEvent
from agentlab.rollout.gate import TrafficGate
from agentlab.rollout.settings import RolloutSettings


def removal_order(replicas: Iterable[Replica]) -> list[Replica]:
    """The replicas in the order they should leave: those out of the name already (an
    interrupted rollout's), then highest address first (network by network, in name
    order), then the lowest number (the oldest)."""

    def key(replica: Replica) -> tuple[bool, tuple[int, ...]]:
        networks = sorted(replica.addresses)
        address = tuple(int(ipaddress.ip_address(replica.addresses[n])) for n in networks)
        return replica.named is False, address

    by_number = sorted(replicas, key=lambda r: r.number)
    return sorted(by_number, key=key, reverse=True)  # stable: ties keep the oldest first


@dataclass(frozen=True)
class Retiring:
    """One replica out of the name; drained and removed from `due` on."""

    replica: Replica
    due: float
    step: int  # the journal step that removes it: done once it is removed


class Removal:
    """A retiring replica being stopped and removed on a thread of its own (started by
    the caller); `error` is what the removal raised, raised again on the runner's thread."""

    def __init__(self, retiring: Retiring, departures: Departures, settings: RolloutSettings):
        self.retiring = retiring
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run,
            args=(departures, settings),
            name=f"agentlab-remove-{retiring.replica.short_id}",
            daemon=True,
        )

    def _run(self, departures: Departures, settings: RolloutSettings) -> None:
        try:
            departures.stop_and_remove(self.retiring.replica, settings)
        except BaseException as error:
            self.error = error


@dataclass
class Retirements:
    """The replicas a phase has taken out and not removed yet."""

    waiting: dict[str, Retiring] = field(default_factory=dict)
    removing: dict[str, Removal] = field(default_factory=dict)

    def ids(self) -> set[str]:
        """Every replica still present that no longer counts: waiting or being removed."""
        return {*self.waiting, *self.removing}

    def add(self, replica: Replica, due: float, step: int) -> None:
        self.waiting[replica.id] = Retiring(replica, due, step)

    def next_due(self) -> float | None:
        """When the next one may be removed; None when none waits."""
        return min((r.due for r in self.waiting.values()), default=None)

    def take(self, now: float | None = None) -> list[Retiring]:
        """The ones due by `now` (all of them when `now` is None), earliest first; they
        leave the waiting list."""
        due = sorted(
            (r for r in self.waiting.values() if now is None or r.due <= now),
            key=lambda r: r.due,
        )
        for retiring in due:
            del self.waiting[retiring.replica.id]
        return due


class Departures:
    """Takes one service's old replicas out, and removes them."""

    def __init__(
        self,
        engine: Engine,
        service: ServiceSpec,
        gate: TrafficGate,
        emit: Callable[[RolloutEvent], None],
        feed: ChangeFeed,
        clock: Callable[[], float],
    ) -> None:
        self.engine, self.service, self.gate = engine, service, gate
        self.emit, self.feed, self.clock = emit, feed, clock

    def take_out(self, doomed: list[Replica], settings: RolloutSettings) -> float:
        """Take the running replicas about to go out of the traffic layer (first: leaving
        the name reconnects them) and out of the service's name, all of them before any is
        removed (a removal frees an address a later reconnect could take). The seconds to
        wait before stopping them: the deregistration delay, for clients to stop picking
        them and requests in flight to finish (0 when none was reachable)."""
        taken_out = False
        for replica in (r for r in doomed if r.running):
            taken_out = self.gate.withdraw(replica) or taken_out  # before any reconnect
            if settings.name_when_ready and replica.named:
                change = self.engine.leave_name(replica.id, self.service.name)
                self.emit(ReplicaLeft(replica.id, replica.name, self.service.name, change.moved))
                taken_out = True
        return settings.deregistration_delay if taken_out else 0.0

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass on the runner's clock (the feed's events do not cut it)."""
        deadline = self.clock() + seconds
        while (left := deadline - self.clock()) > 0:
            self.feed.wait(left)

    def remove(self, replica: Replica, settings: RolloutSettings) -> None:
        """Drain before stop: SIGTERM with the drain timeout, then remove; out of the
        traffic layer for good."""
        self._draining(replica, settings)
        self.stop_and_remove(replica, settings)
        self._removed(replica)

    def _grace(self, settings: RolloutSettings) -> float:
        """Seconds from SIGTERM to SIGKILL: the drain timeout, else the stop grace period."""
        timeout = settings.drain_timeout
        return self.service.stop_grace_period if timeout is None else timeout

    def _draining(self, replica: Replica, settings: RolloutSettings) -> None:
        if replica.state not in ("exited", "dead"):
            self.emit(ReplicaDraining(replica.id, replica.name, self._grace(settings)))

    def stop_and_remove(self, replica: Replica, settings: RolloutSettings) -> None:
        if replica.state not in ("exited", "dead"):
            self.engine.stop_replica(replica.id, self._grace(settings))
        self.engine.remove_replica(replica.id)

    def _removed(self, replica: Replica) -> None:
        self.emit(ReplicaRemoved(replica.id, replica.name))
        self.gate.forget(replica)

    def retire(
        self,
        retirements: Retirements,
        now: float | None,
        settings: RolloutSettings,
        step_done: Callable[[int], None],
    ) -> None:
        """Start removing the retiring replicas due by `now`, each on a thread of its own,
        and report the removals that have finished; with `now` None, remove all of them
        (each once its delay has passed) and wait until they are gone. A step is done
        once its last replica is."""
        for retiring in retirements.take(now):
            if now is None:
                self.sleep(retiring.due - self.clock())
            replica = retiring.replica
            self._draining(replica, settings)
            removal = Removal(retiring, self, settings)
            retirements.removing[replica.id] = removal
            removal.thread.start()
        self._report(retirements, step_done, wait=now is None)

    def wind_down(self, retirements: Retirements, step_done: Callable[[int], None]) -> None:
        """On the way out of a failed phase: wait for the removals in flight and report the
        ones that succeeded, so none runs on after the rollout has returned (their own
        errors give way to the one already on its way out). Replicas still waiting out
        their delay stay, out of the name: resume or undo finds them."""
        self._report(retirements, step_done, wait=True, raising=False)

    def _report(
        self,
        retirements: Retirements,
        step_done: Callable[[int], None],
        wait: bool,
        raising: bool = True,
    ) -> None:
        """Events and journal for the removals that have finished (all, with `wait`), every
        one of them reported before the first that failed raises its error here; a step
        is done once its last replica is removed, never when one of them failed."""
        finished = [r for r in retirements.removing.values() if wait or not r.thread.is_alive()]
        for removal in finished:
            removal.thread.join()
            del retirements.removing[removal.retiring.replica.id]
        failed = [r for r in finished if r.error is not None]
        for removal in (r for r in finished if r.error is None):
            self._removed(removal.retiring.replica)
        pending = [*retirements.waiting.values()]
        pending += [r.retiring for r in [*retirements.removing.values(), *failed]]
        for step in sorted({r.retiring.step for r in finished}):
            if step not in (r.step for r in pending):
                step_done(step)
        errors = [r.error for r in failed if r.error is not None]
        if errors and raising:
            raise errors[0]
