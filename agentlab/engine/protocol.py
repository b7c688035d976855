"""The engine port: what the rest of agentlab needs from a container engine.

Adapters: `ComposeEngine` (engine/compose.py) drives Docker through Compose and one
transport chosen once (engine/api.py on a local socket, engine/cli.py otherwise);
`FakeEngine` (engine/fake.py) is the in-memory twin for unit tests. Only the engine
package talks to Docker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

from agentlab.common.events import ProgressSink
from agentlab.engine.model import (
    ContainerImage,
    EngineEvent,
    Healthcheck,
    ImageInfo,
    NameChange,
    Replica,
    ServiceSpec,
)


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


# Starts `count` copies, in the service's DNS name when `named`; their ids.
ReplicaCopier = Callable[[int, bool], list[str]]
# The way out when no copy of an old configuration can be made.
REVERT_HINT = "put the compose file back as it was, then agentlab up"


class Engine(Protocol):
    """The operations agentlab performs on one Compose project."""

    project: str

    def check(self) -> None:
        """Raise EngineUnavailable unless CLI, engine and Compose v2 answer."""

    def unsupported(self) -> list[str]:
        """What the compose files ask that this engine cannot do, a line each (after
        check(): Compose would create the networks, then fail at the first container)."""

    def prepare_to_mutate(self) -> None:
        """A hint that mutations follow: load what they need in the background."""

    def services(self) -> dict[str, ServiceSpec]:
        """The services of the resolved compose model (user files plus the override);
        BadInput when the files do not load."""

    def own_images(self) -> dict[str, str]:
        """Each service's image as the user's files give it, without agentlab's override
        (what Compose names one it builds when they give none)."""

    def replicas(self, service: str | None = None) -> list[Replica]:
        """Every container of the project (or one service), each from a full inspect."""

    def stale_replicas(self, services: Sequence[str]) -> set[str]:
        """The names of those services' containers that Compose's next `up` would
        recreate: created from another configuration (or image) than the files give now."""

    def foreign_holders(self, names: Sequence[str]) -> dict[str, str]:
        """Of these container names, those a container outside the project holds: name ->
        the holder's compose project ("" for none). Read only: nothing is touched."""

    def running_images(self) -> list[ContainerImage]:
        """What each running container of the project runs: one container list, and an
        inspect only of a container the list shows by image id (its tag moved: the inspect
        says the tag it was created with), for another environment's drift."""

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

    def add_replicas(self, service: str, count: int, named: bool = True) -> list[str]:
        """Start `count` more containers of `service` at its pinned image; return their ids.
        With `named=False` they do not answer the service's DNS name until `join_name`."""

    def copyable(self, service: str) -> bool:
        """Whether `copier` can copy the service's replicas: over the engine's API socket,
        a service Compose creates whole (no container_name, configs, secrets...)."""

    def copier(self, service: str, replica_id: str) -> ReplicaCopier:
        """Copies of one replica as it is now (its configuration, image and labels), to
        start later, even once it is gone: the way back to a configuration the compose
        files no longer give. OperationFailed when a copy cannot be made."""

    def join_name(self, container_id: str, service: str) -> NameChange:
        """Give a replica its service's DNS names (on each network that lacks them)."""

    def leave_name(self, container_id: str, service: str) -> NameChange:
        """Take a replica out of its service's DNS names; it keeps running."""

    def probe(self, container_id: str, check: Healthcheck) -> bool:
        """Run a replica's healthcheck command in it once, as the engine would; True when
        it passed within the check's timeout."""

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

    def build_service(
        self,
        service: str,
        tag: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        progress: ProgressSink,
    ) -> None:
        """Build `service` from its own compose build section as `tag`, with these args
        added and these labels; never pulls. Reports build steps to `progress`."""

    def remove_image_if_unused(self, image_id: str) -> bool:
        """Remove an image that no tag and no container uses any more (the one a rebuild
        replaced); True when it was removed."""

    def down(self, volumes: bool = False) -> None:
        """Remove every container and network of the project."""

    def events(self) -> EventStream:
        """The project's container events; `close()` ends the stream (and its process)."""

    def changes(self) -> ChangeFeed:
        """A feed to wait on for container changes; open it before causing them."""
