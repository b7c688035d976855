"""Typed rollout events: the one source of truth for progress.

The runner emits them; the CLI prints `line()` (or `to_json()` with --json) and the
TUI turns them into messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from agentlab.common.events import Event
from agentlab.common.words import counted
from agentlab.rollout.journal import Outcome


@dataclass(frozen=True)
class RolloutEvent(Event):
    """Base of every rollout event."""


@dataclass(frozen=True)
class RolloutStarted(RolloutEvent):
    kind: ClassVar[str] = "rollout_started"
    service: str
    from_version: str
    to_version: str
    desired: int
    strategy: str
    settings: str
    # `rollout undo`: back to to_version (the interrupted rollout's from) from its target
    undo: bool = False
    configuration: bool = False  # the compose files' configuration edited, not the version

    def line(self) -> str:
        return f"{self.headline()} ({counted(self.desired, 'replica')}; {self.settings})"

    def headline(self) -> str:
        """`rollout web 1.0.0 -> 2.0.0`; `undo the rollout of web to 2.0.0: back to
        1.0.0`; a version that is not known (an image without one) is said so, not `?`."""
        if self.undo:
            heading = f" to {self.from_version}" if self.from_version else ""
            back = self.to_version or "the image it ran before (its version unknown)"
            return f"undo the rollout of {self.service}{heading}: back to {back}"
        if self.configuration and self.from_version == self.to_version:
            return f"rollout {self.service} {self.to_version} (configuration edited)"
        if not self.from_version:
            return f"rollout {self.service} to {self.to_version} (from an unknown version)"
        return f"rollout {self.service} {self.from_version} -> {self.to_version}"


@dataclass(frozen=True)
class BuildProgress(RolloutEvent):
    """A line of the build of the target image, before the rollout starts (build on
    demand: the version was not local yet)."""

    kind: ClassVar[str] = "build_progress"
    image: str
    text: str

    def line(self) -> str:
        return f"build {self.image}: {self.text.strip()}"


@dataclass(frozen=True)
class StepStarted(RolloutEvent):
    kind: ClassVar[str] = "step_started"
    index: int
    description: str

    def line(self) -> str:
        return f"{self.index}. {self.description}"


@dataclass(frozen=True)
class ReplicaEvent(RolloutEvent):
    """Base of the events about one replica."""

    id: str
    name: str


@dataclass(frozen=True)
class ReplicaStarted(ReplicaEvent):
    kind: ClassVar[str] = "replica_started"
    version: str

    def line(self) -> str:
        return f"   started {self.name} ({self.version})"


@dataclass(frozen=True)
class ReplicaReady(ReplicaEvent):
    """A new replica counts as ready: `by` Docker's health ("docker"), a probe of
    agentlab's own while Docker's health still said starting ("probe"), or running for
    min_ready without a healthcheck ("running")."""

    kind: ClassVar[str] = "replica_ready"
    by: str = ""

    def line(self) -> str:
        how = " (its healthcheck passed when agentlab ran it)" if self.by == "probe" else ""
        return f"   {self.name} is ready{how}"


@dataclass(frozen=True)
class ReplicaFailed(ReplicaEvent):
    kind: ClassVar[str] = "replica_failed"
    reason: str
    health_output: str
    logs_tail: str

    def line(self) -> str:
        return f"   {self.name} failed: {self.reason}"


@dataclass(frozen=True)
class ReplicaJoined(ReplicaEvent):
    """A replica now answers the service's DNS name: a new one once ready (or, after a
    rollout that failed for good, one it left out of the name)."""

    kind: ClassVar[str] = "replica_joined"
    service: str
    moved: tuple[str, ...] = ()  # networks where its address changed on the way

    def line(self) -> str:
        # a move is not said: out of the name until now, no client had reached it by it
        return f"   {self.name} answers to {self.service}"


@dataclass(frozen=True)
class ReplicaLeft(ReplicaEvent):
    """An old replica no longer answers the service's DNS name; it is stopped after the
    deregistration delay."""

    kind: ClassVar[str] = "replica_left"
    service: str
    moved: tuple[str, ...] = ()

    def line(self) -> str:
        return f"   {self.name} left the name {self.service}{_moved(self.moved)}"


def _moved(networks: tuple[str, ...]) -> str:
    if not networks:
        return ""
    return (f" (its address on {', '.join(networks)} changed: connections to the old one "
            "were cut)")  # fmt: skip


@dataclass(frozen=True)
class ReplicaDraining(ReplicaEvent):
    kind: ClassVar[str] = "replica_draining"
    grace: float = 0.0  # seconds from SIGTERM to SIGKILL (a stop that ignores SIGTERM waits)

    def line(self) -> str:
        return f"   draining {self.name} (SIGTERM; killed after {self.grace:g}s if still running)"


@dataclass(frozen=True)
class ReplicaRemoved(ReplicaEvent):
    kind: ClassVar[str] = "replica_removed"

    def line(self) -> str:
        return f"   removed {self.name}"


@dataclass(frozen=True)
class ReplicaCounts(RolloutEvent):
    """Counts after a change: ready and total containers, those at `version` (the one the
    rollout, or its rollback, goes to), desired replicas."""

    kind: ClassVar[str] = "replica_counts"
    ready: int
    total: int
    updated: int
    desired: int
    version: str

    def line(self) -> str:
        at = f"{self.updated}/{self.desired} on {self.version}"
        return f"   {self.ready}/{self.total} ready, {at}"


@dataclass(frozen=True)
class RollbackStarted(RolloutEvent):
    """The journaled step that turns a failed rollout back (numbered as the steps are)."""

    kind: ClassVar[str] = "rollback_started"
    reason: str
    index: int

    def line(self) -> str:
        return f"{self.index}. rolling back: {self.reason}"


@dataclass(frozen=True)
class Paused(RolloutEvent):
    kind: ClassVar[str] = "paused"
    reason: str
    hint: str

    def line(self) -> str:
        return f"paused: {self.reason} (hint: {self.hint})"


@dataclass(frozen=True)
class RolloutFinished(RolloutEvent):
    kind: ClassVar[str] = "rollout_finished"
    outcome: Outcome
    message: str
    duration: float
    downtime: float = 0.0  # seconds the service had no ready replica

    def line(self) -> str:
        return f"{self.outcome}: {self.message} ({self.duration:.1f}s)"


@dataclass(frozen=True)
class JoinersRecreated(RolloutEvent):
    """Services that join the rolled service's network (`network_mode: service:X`) were
    recreated on its new container: the old one's network went with it."""

    kind: ClassVar[str] = "joiners_recreated"
    service: str
    joiners: tuple[str, ...]

    def line(self) -> str:
        names = ", ".join(self.joiners)
        return f"   recreated {names}: it joins the network of {self.service}'s new container"


@dataclass(frozen=True)
class WeightSet(RolloutEvent):
    """A canary's share of requests changed: exactly (weights in the traffic layer), or
    approximately (replica counts, when the service has no traffic layer)."""

    kind: ClassVar[str] = "weight_set"
    version: str
    percent: int
    exact: bool
    canary_replicas: int
    stable_replicas: int
    preview: str = ""  # where the new version answers alone (the traffic layer's preview)

    def line(self) -> str:
        how = "by weight" if self.exact else "by replica count, approximately"
        replicas = f"{self.canary_replicas} canary, {self.stable_replicas} stable replicas"
        preview = f"; preview {self.preview}" if self.preview else ""
        return f"   {self.percent}% of requests to {self.version} ({how}; {replicas}){preview}"


@dataclass(frozen=True)
class GateChecked(RolloutEvent):
    """One gate's reading over one analysis interval."""

    kind: ClassVar[str] = "gate_checked"
    gate: str
    verdict: str  # pass | fail | inconclusive
    reading: str  # the reading as a line: value, limit, requests

    def line(self) -> str:
        if self.gate.startswith("promql:"):  # the reading names the query already
            return f"   gate {self.reading}"
        return f"   gate {self.gate}: {self.reading}"


@dataclass(frozen=True)
class OldSetKept(RolloutEvent):
    """A blue-green switched: the old set stays this long, an abort switches back."""

    kind: ClassVar[str] = "old_set_kept"
    service: str
    seconds: float

    def line(self) -> str:
        return (f"   the old set stays {self.seconds:g}s: agentlab abort {self.service} "
                "switches back at once")  # fmt: skip
