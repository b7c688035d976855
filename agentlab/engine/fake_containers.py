"""The fake engine's simulated containers: a clock that moves only when slept on, and
containers whose life follows their image's `Behaviour`, counted in polls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agentlab.engine.model import CONFIG_HASH_LABEL, Healthcheck, ImageInfo, Replica

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class FakeClock:
    """Monotonic seconds that advance only when someone sleeps."""

    def __init__(self, start: float = 0.0) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += max(0.0, seconds)

    def wall(self) -> datetime:
        return _EPOCH + timedelta(seconds=self.time)


@dataclass(frozen=True)
class Behaviour:
    """How a container of an image acts, counted in polls since it was created.

    None means never. Without a healthcheck, health stays None and a running
    container counts as up."""

    healthcheck: bool = True
    healthy_after: int | None = 1
    unhealthy_after: int | None = None
    exit_after: int | None = None
    exit_code: int = 1
    restart_after: int | None = None
    health_output: str = "ok"
    logs: str = ""
    # With `probe`, replicas report this healthcheck (agentlab may run it, engine.probe):
    # the Nth probe of a container passes and every later one (None: none ever does).
    probe: Healthcheck | None = None
    probe_passes_after: int | None = None


HEALTHY = Behaviour()
NEVER_HEALTHY = Behaviour(healthy_after=None, health_output="connection refused")
NO_HEALTHCHECK = Behaviour(healthcheck=False)


def exits(after: int = 1, code: int = 1, logs: str = "fatal: boom") -> Behaviour:
    """A container that exits with `code` after `after` polls."""
    return Behaviour(
        healthy_after=None, exit_after=after, exit_code=code, health_output="", logs=logs
    )


@dataclass
class FakeContainer:
    """Mutable state of one fake container."""

    id: str
    name: str
    service: str
    number: int
    image_ref: str
    behaviour: Behaviour
    started_at: datetime
    image: ImageInfo  # the image it was created from (a retag does not move it)
    config_hash: str = "0"  # of the service's configuration when it was created
    polls: int = 0
    state: str = "running"
    health: str | None = None
    restart_count: int = 0
    exit_code: int = 0
    named: bool = True  # answers its service's DNS name
    probes: int = 0  # healthcheck commands agentlab ran in it
    joined: str | None = None  # the container whose network it joined (network_mode)

    def advance(self) -> None:
        """One poll of life, following the behaviour."""
        self.polls += 1
        self._settle()

    def _settle(self) -> None:
        b, polls = self.behaviour, self.polls
        if self.state != "running":
            return
        if b.restart_after is not None and polls == b.restart_after:
            self.restart_count += 1
        if b.exit_after is not None and polls >= b.exit_after:
            self.state, self.exit_code = "exited", b.exit_code
        if not b.healthcheck:
            self.health = None
        elif b.unhealthy_after is not None and polls >= b.unhealthy_after:
            self.health = "unhealthy"
        elif b.healthy_after is not None and polls >= b.healthy_after:
            self.health = "healthy"
        else:
            self.health = "starting"

    @property
    def ready(self) -> bool:
        return self.state == "running" and self.health in (None, "healthy")

    def replica(self, published_ports: dict[int, int]) -> Replica:
        """What the engine reports of this container."""
        health_log = (self.behaviour.health_output,) if self.health is not None else ()
        return Replica(
            id=self.id,
            name=self.name,
            service=self.service,
            number=self.number,
            image_ref=self.image_ref,
            image_id=self.image.id,
            state=self.state,
            health=self.health,
            started_at=self.started_at,
            restart_count=self.restart_count,
            exit_code=self.exit_code,
            labels={**self.image.labels, CONFIG_HASH_LABEL: self.config_hash},
            health_log=health_log,
            named=self.named,
            healthcheck=self.behaviour.probe if self.behaviour.healthcheck else None,
            published_ports=published_ports,
        )


@dataclass(frozen=True)
class Observation:
    """Counts the fake saw at one `replicas()` call or mutation of a service; `named` counts
    the replicas that answered the service's name, `ready_named` those of them ready, and
    `unready_named` those that answered it without being ready."""

    service: str
    total: int
    ready: int
    time: float
    unready_named: int = 0
    named: int = 0
    ready_named: int = 0


@dataclass
class FakeImage:
    """An image the fake knows, and the behaviours its next containers get."""

    info: ImageInfo
    behaviours: tuple[Behaviour, ...]
    created: int = 0

    def next_behaviour(self) -> Behaviour:
        """The behaviour of the next container: one per creation, the last repeating."""
        chosen = self.behaviours[min(self.created, len(self.behaviours) - 1)]
        self.created += 1
        return chosen


class Observations(list[Observation]):
    """What the fake saw, in order, with the extremes tests ask about, per service."""

    def _of(self, service: str) -> list[Observation]:
        return [o for o in self if o.service == service]

    def max_total(self, service: str) -> int:
        """The most replicas the service ever had."""
        return max(o.total for o in self._of(service))

    def min_ready(self, service: str) -> int:
        """The fewest ready replicas the service ever had."""
        return min(o.ready for o in self._of(service))

    def unready_named(self, service: str) -> int:
        """The most replicas that ever answered the service's name without being ready."""
        return max(o.unready_named for o in self._of(service))

    def max_named(self, service: str) -> int:
        """The most replicas that ever answered the service's name at once."""
        return max(o.named for o in self._of(service))

    def min_ready_named(self, service: str) -> int:
        """The fewest ready replicas the service's name ever reached."""
        return min(o.ready_named for o in self._of(service))
