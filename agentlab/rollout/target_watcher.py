"""Watching the replicas at the image a phase rolls to: readiness (healthy, a passing
probe of agentlab's own (rollout/probing.py), or running for min_ready), failures against
max_failure_ratio, and a ready replica's way in (its service's name, then the traffic
layer)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

from agentlab.common.errors import AgentlabError
from agentlab.engine.model import Replica, ServiceSpec
from agentlab.engine.protocol import Engine
from agentlab.rollout.events import (
    ReplicaFailed,
    ReplicaJoined,
    ReplicaReady,
    ReplicaStarted,
    RolloutEvent,
)
from agentlab.rollout.gate import TrafficGate
from agentlab.rollout.phase import FailedReplica, Phase, Watch, failure_of
from agentlab.rollout.probing import failed_reason, probe, probes


class TargetWatcher:
    """Keeps a phase's watches on one service's target replicas up to date."""

    def __init__(
        self,
        engine: Engine,
        service: ServiceSpec,
        gate: TrafficGate,
        emit: Callable[[RolloutEvent], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine, self.service, self.gate, self.emit = engine, service, gate, emit
        self.clock = clock

    def watch(self, phase: Phase, target: list[Replica], now: float) -> None:
        """Update readiness of the target replicas and catch the failed ones."""
        for replica in target:
            watch = phase.watches.get(replica.id)
            first_sight = watch is None
            if watch is None:
                if not replica.running and replica.id not in phase.ours:
                    phase.stale.add(replica.id)  # a leftover of an interrupted run
                watch = phase.watches[replica.id] = Watch(replica.restart_count)
            if replica.id in phase.stale or watch.failed:
                continue
            if replica.id in phase.unannounced:
                phase.unannounced.discard(replica.id)
                self.emit(ReplicaStarted(replica.id, replica.name, shown_version(replica, phase)))
            reason = failure_of(replica, watch)
            if reason:
                self.fail(phase, replica, reason, now)
                continue
            watch.ready, by = self._ready(phase, replica, watch, now)
            if watch.failed:
                continue
            if watch.ready and replica.named is False and not watch.joined:
                replica = self._join_name(phase, replica, now)
                if watch.failed:
                    continue
            if watch.ready and not watch.admitted:
                self.gate.admit(replica)
                watch.admitted = True
            if watch.ready and watch.ready_at is None:
                watch.ready_at = phase.last_progress = now
                if replica.id in phase.ours or not first_sight:
                    self.emit(ReplicaReady(replica.id, replica.name, by))

    def fail(self, phase: Phase, replica: Replica, reason: str, now: float) -> None:
        """Record a failed new replica; trigger failure_action past max_failure_ratio."""
        watch = phase.watches[replica.id]
        watch.failed, watch.ready = True, False
        failed = FailedReplica(
            replica.id,
            replica.name,
            shown_version(replica, phase),
            reason,
            replica.health_log[-1] if replica.health_log else "",
            self.engine.logs_tail(replica.id),
        )
        phase.failures.append(failed)
        phase.last_progress = now
        self.emit(
            ReplicaFailed(failed.id, failed.name, reason, failed.health_output, failed.logs_tail)
        )
        ratio = len(phase.failures) / max(1, self.service.replicas)
        if ratio > phase.settings.max_failure_ratio:
            if phase.settings.failure_action == "continue":
                phase.exceeded = True
            else:
                phase.stopped = True

    def refused(self, phase: Phase, refusal: AgentlabError, now: float) -> None:
        """Record that the engine refused to start a new replica (all ports of a range
        taken, a name in use...): the phase stops whatever failure_action says, as
        starting again would be refused again; the refusal's hint is kept for the end."""
        name, reason = f"a new {self.service.name} replica", f"refused: {refusal.message}"
        failed = FailedReplica("", name, phase.version, reason, "", "")
        phase.refusal_hint = refusal.hint
        phase.failures.append(failed)
        phase.last_progress = now
        self.emit(ReplicaFailed(failed.id, failed.name, failed.reason, "", ""))
        phase.stopped = True

    def _ready(self, phase: Phase, replica: Replica, watch: Watch, now: float) -> tuple[bool, str]:
        """Whether the replica is ready, and what says so: Docker's health ("docker"), a
        probe of agentlab's own ("probe"), or running for min_ready ("running")."""
        if not replica.running:
            watch.running_since = watch.ready_due = None
            return False, ""
        if watch.running_since is None:
            watch.running_since = now
        if replica.health == "healthy":
            return True, "docker"
        interval = phase.settings.probe_interval
        if probes(replica, interval):
            verdict = probe(
                self.engine, replica, watch.probe, watch.running_since, interval, self.clock
            )
            if verdict == "failed":
                reason = failed_reason(watch.probe, replica.healthcheck)
                self.fail(phase, replica, reason, self.clock())
            return verdict == "ready", "probe"
        if replica.has_healthcheck:
            return False, ""
        if replica.id in phase.vouched:  # an old replica the phase before counted ready
            return True, "running"
        watch.ready_due = watch.running_since + phase.settings.min_ready
        return now >= watch.ready_due, "running"

    def _join_name(self, phase: Phase, replica: Replica, now: float) -> Replica:
        """A ready target replica out of its service's name joins it (a new one, or an
        old one back from an interrupted removal); the replica with its addresses now."""
        try:
            change = self.engine.join_name(replica.id, self.service.name)
        except AgentlabError as error:
            self.fail(phase, replica, f"could not join the name: {error.message}", now)
            return replica
        phase.watches[replica.id].joined = True
        if change.networks:
            self.emit(ReplicaJoined(replica.id, replica.name, self.service.name, change.moved))
        return replace(replica, addresses={**replica.addresses, **change.addresses})


def next_due(phase: Phase, now: float) -> float:
    """When a replica without a healthcheck is due to count as ready, a probe of agentlab's
    is due, or the progress
    deadline comes (a hold waits a poll at most; events wake it for the rest)."""
    dues = [w.ready_due for w in phase.watches.values() if w.ready_due is not None]
    dues += [
        due
        for w in phase.watches.values()
        if not w.failed and (due := w.probe.waiting()) is not None
    ]
    dues.append(phase.last_progress + phase.settings.timeout)
    return min((due for due in dues if due > now), default=math.inf)


def shown_version(replica: Replica, phase: Phase) -> str:
    """The version a new replica is said to run: the tag the phase drives to (an image's
    version label may be inherited from the image it was built from); for `latest`, its
    label, which says more."""
    if phase.version == "latest":
        return replica.version or phase.version
    return phase.version
