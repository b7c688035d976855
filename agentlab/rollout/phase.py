"""What the runner keeps while it drives a service: the watch on each replica at the
target image, the state of one phase (forward or rollback), and how a rollout ended."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agentlab.common.errors import BadInput
from agentlab.common.imagerefs import same_image_ref
from agentlab.engine.model import Replica, ServiceSpec
from agentlab.engine.protocol import ReplicaCopier
from agentlab.rollout.configs import ConfigTarget
from agentlab.rollout.departures import Retirements
from agentlab.rollout.journal import Outcome
from agentlab.rollout.planner import Step, budget
from agentlab.rollout.probing import ProbeState
from agentlab.rollout.settings import RolloutSettings

STRAY = "was created with the configuration it was to replace"


@dataclass(frozen=True)
class FailedReplica:
    """A new replica that failed, with what it said about it."""

    id: str
    name: str
    version: str
    reason: str
    health_output: str
    logs_tail: str

    def summary(self) -> str:
        return f"{self.name} ({self.version}) {self.reason}"


@dataclass(frozen=True)
class RolloutResult:
    """How a rollout ended. Anything but `complete` (or `undone`, for an undo) exits 1."""

    outcome: Outcome
    message: str
    duration: float
    failures: tuple[FailedReplica, ...] = ()
    hint: str = ""
    downtime: float = 0.0  # seconds the service had no ready replica

    @property
    def reason(self) -> str | None:
        """Why it ended other than complete, for its revision (None when complete)."""
        return None if self.outcome == "complete" else self.message


@dataclass
class Watch:
    """What the runner has seen of one replica at the target image."""

    restarts: int
    running_since: float | None = None
    ready_due: float | None = None  # without a healthcheck: when min_ready will have passed
    ready_at: float | None = None
    ready: bool = False
    failed: bool = False
    joined: bool = False  # put in the service's name by this phase
    admitted: bool = False  # let in by the traffic layer by this phase
    probe: ProbeState = field(default_factory=ProbeState)  # agentlab's own health probes


@dataclass
class Phase:
    """The state of driving a service's replicas to one image."""

    image: str
    version: str
    image_id: str | None
    settings: RolloutSettings
    label: str  # prefixes step descriptions ("rollback: ")
    last_progress: float
    watches: dict[str, Watch] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)  # dead on first sight: removed like old ones
    ours: set[str] = field(default_factory=set)  # started by this phase
    # Old replicas it counted ready; a rollback phase gets the forward phase's: ready at
    # once without a healthcheck (they served all along: min_ready is for new ones)
    served: set[str] = field(default_factory=set)
    vouched: frozenset[str] = frozenset()
    unannounced: set[str] = field(default_factory=set)
    failures: list[FailedReplica] = field(default_factory=list)
    mutated: bool = False
    hold: tuple[int, type[Step]] | None = None
    delay_until: float | None = None
    stopped: bool = False  # failure_action triggered: stop here
    exceeded: bool = False  # failure ratio exceeded under failure_action continue
    interrupted: bool = False  # a pause was requested from outside (the TUI's pause key)
    refusal_hint: str = ""  # what the engine's refusal to start a replica asked for
    # The replicas its last removal left: when they call for a start, it starts without
    # reading the engine again (~10-100 ms on the critical path of every replacement).
    after_removal: list[Replica] | None = None
    retiring: Retirements = field(default_factory=Retirements)  # out of the name, not removed
    # A configuration rollout's target (None: any configuration), and, back to an old one,
    # copies of a replica of it (the compose files no longer give it).
    config: ConfigTarget | None = None
    copier: ReplicaCopier | None = None

    def is_target(self, replica: Replica) -> bool:
        """Whether a replica is already what this phase drives to: created from the target
        reference (another name for the same bytes, e.g. a locked digest, is still a
        change: Compose's next `up` would recreate the replica for it, all at once) and,
        when the image is local, running its bytes (a tag rebuilt since is a change); and
        from the target configuration, when the phase has one."""
        if self.image_id and replica.image_id != self.image_id:
            return False
        if self.config is not None and not self.config.holds(replica.config_hash):
            return False
        return same_image_ref(replica.image_ref, self.image)

    def first_stray(self, replicas: Sequence[Replica]) -> Replica | None:
        """In a configuration phase, a replica it started that is not where it drives
        (Compose made it as the ones it replaces, for another reason than the edit)."""
        if self.config is None:
            return None
        return next((r for r in replicas if r.id in self.ours and not self.is_target(r)), None)


def refuse_unsafe(service: ServiceSpec, *settings: RolloutSettings) -> None:
    """Refuse settings that cannot work for this service, before changing anything."""
    blockers = service.surge_blockers()
    for each in settings:
        if each.strategy != "rolling":
            continue
        if budget(service.replicas, each).surge > 0 and blockers:
            raise BadInput(
                f"{service.name} cannot run a new replica beside an old one: "
                + "; ".join(blockers),
                hint="use --max-surge 0 --max-unavailable 1, or --strategy recreate",
            )


def failure_of(replica: Replica, watch: Watch) -> str | None:
    """Why a target replica has failed, or None."""
    if replica.restart_count > watch.restarts:
        times = replica.restart_count - watch.restarts
        return f"restarted {times} time{'' if times == 1 else 's'}"
    if replica.state in ("exited", "dead"):
        oom = " (out of memory)" if replica.oom_killed else ""
        return f"exited with code {replica.exit_code}{oom}"
    if replica.health == "unhealthy":
        return "turned unhealthy" if watch.ready_at is not None else "failed its health check"
    return None
