"""What the rest of agentlab needs from a container engine.

The Compose implementation (`agentlab.engine.compose`) is the only module that
talks to Docker; `agentlab.engine.fake` is an in-memory twin for unit tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

VERSION_LABEL = "org.opencontainers.image.version"


@dataclass(frozen=True)
class Replica:
    """One container of a service, read from a single inspect."""

    id: str
    name: str
    service: str
    number: int
    image_ref: str
    image_id: str
    state: str
    health: str | None
    started_at: datetime | None
    restart_count: int = 0
    exit_code: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    health_log: tuple[str, ...] = ()
    oom_killed: bool = False

    @property
    def version(self) -> str | None:
        """The OCI version label of the replica's image, if any."""
        return self.labels.get(VERSION_LABEL)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def short_image_id(self) -> str:
        return self.image_id.removeprefix("sha256:")[:12]

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def has_healthcheck(self) -> bool:
        return self.health is not None

    @property
    def ready(self) -> bool:
        """Running, and healthy when the image has a healthcheck: it can serve."""
        return self.running and self.health in (None, "healthy")

    def uptime_seconds(self, now: datetime) -> float | None:
        """Seconds since the container started, while it runs."""
        if not self.running or self.started_at is None:
            return None
        return max(0.0, (now - self.started_at).total_seconds())


@dataclass(frozen=True)
class ImageInfo:
    """A local image tag."""

    repository: str
    tag: str
    id: str
    digest: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    created: str = ""

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class EngineEvent:
    """A container event of the project (create, start, die, health_status...)."""

    action: str
    container_id: str
    service: str | None
    name: str
    time: datetime
    attributes: Mapping[str, str] = field(default_factory=dict)


class EventStream(Protocol):
    """A blocking iterator of events that another thread can end with `close()`."""

    def __iter__(self) -> Iterator[EngineEvent]: ...

    def close(self) -> None: ...


FALLBACK_POLL = 1.0  # seconds a loop waiting on a ChangeFeed sleeps when no event arrives


class ChangeFeed(Protocol):
    """Lets a polling loop sleep until the project's containers change."""

    def mark(self) -> None:
        """Forget the changes so far: the caller is about to observe the containers."""

    def wait(self, timeout: float) -> bool:
        """Return after `timeout` seconds (False), or as soon as a container started, died
        or changed health since the last mark (True)."""

    def close(self) -> None:
        """Stop watching (ends any process or thread behind the feed)."""


class Engine(Protocol):
    """The operations agentlab performs on one Compose project."""

    project: str

    def check(self) -> None:
        """Raise EngineUnavailable unless CLI, engine and Compose v2 answer."""

    def prepare_to_mutate(self) -> None:
        """A hint that mutations follow: load what they need in the background."""

    def compose_config(self) -> dict[str, Any]:
        """The resolved compose model (`docker compose config` as JSON)."""

    def replicas(self, service: str | None = None) -> list[Replica]:
        """Every container of the project (or one service): one batched inspect."""

    def images(self, repository: str) -> list[ImageInfo]:
        """Local tags of one image repository."""

    def image(self, ref: str) -> ImageInfo | None:
        """One local image, or None when it is not present."""

    def digests(self, image_ids: Sequence[str]) -> dict[str, str | None]:
        """Repo digest per local image id (None for images built here): one inspect."""

    def published_port(self, service: str, port: int) -> int | None:
        """The host port a running container of `service` publishes for `port`."""

    def up(
        self,
        services: Sequence[str] | None = None,
        scales: Mapping[str, int] | None = None,
        recreate: bool = True,
        deps: bool = True,
    ) -> None:
        """`compose up -d` with the agentlab override applied (it does not wait for health)."""

    def add_replicas(self, service: str, count: int) -> list[str]:
        """Start `count` more containers of `service` at its pinned image; return their ids."""

    def stop_replica(self, container_id: str, timeout: float) -> None:
        """Send SIGTERM, wait up to `timeout` seconds for the replica to drain and exit."""

    def remove_replica(self, container_id: str) -> None:
        """Remove a stopped replica (forcefully if it still runs)."""

    def kill_replica(self, container_id: str) -> None:
        """SIGKILL a replica (for demos of health checks and restarts)."""

    def logs_tail(self, container_id: str, lines: int = 20) -> str:
        """The last lines of a replica's logs."""

    def build_image(
        self,
        context: str,
        tag: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        dockerfile: str | None = None,
    ) -> None:
        """Build an image from a context without pulling."""

    def remove_image_if_unused(self, image_id: str) -> bool:
        """Remove an image that no tag and no container uses any more (the one a rebuild
        replaced); True when it was removed."""

    def down(self, volumes: bool = False) -> None:
        """Remove every container and network of the project."""

    def events(self) -> EventStream:
        """The project's container events; `close()` ends the stream (and its process)."""

    def changes(self) -> ChangeFeed:
        """A feed to wait on for container changes; open it before causing them."""
