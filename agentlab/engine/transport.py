"""How ComposeEngine reaches the engine for reads and per-replica changes.

Two transports, chosen once per engine (`engine.api.choose_transport`): the Engine API on
the local unix socket (engine/api.py), and the docker CLI for other endpoints
(engine/cli.py). Both answer with the documents `docker inspect` prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Transport(Protocol):
    """Reads and per-replica changes; errors are one-line AgentlabErrors."""

    def check(self) -> str:
        """Raise EngineUnavailable unless the engine answers; its API version (`1.41`)."""

    def container_ids(self, labels: Sequence[str]) -> list[str]:
        """Ids of every container (running or not) that carries all these labels."""

    def inspect_containers(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Inspect documents; containers removed meanwhile are left out."""

    def name_holders(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        """Of these container names, those a container (of any project) holds: name -> its
        labels."""

    def image_ids(self, repository: str) -> list[str]:
        """Ids of the local images tagged in `repository`."""

    def inspect_images(self, refs: Sequence[str]) -> list[dict[str, Any]]:
        """Inspect documents of local images; references not present are left out."""

    def logs(self, container_id: str, lines: int) -> str | None:
        """The last lines of a container's output; None when it is gone."""

    def stop(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; returns once it exited."""

    def remove(self, container_id: str) -> None:
        """Remove a container and its anonymous volumes; a missing one counts as removed."""

    def kill(self, container_id: str) -> None:
        """SIGKILL a running container."""

    def remove_image(self, image_id: str) -> None:
        """Remove an image; OperationFailed while something still uses it."""

    def start(self, container_id: str) -> None:
        """Start a created (or stopped) container."""

    def probe(self, container_id: str, command: Sequence[str], timeout: float) -> bool:
        """Run `command` in a running container as its healthcheck runs (its user,
        environment and working directory); True when it exited 0 within `timeout`
        seconds. A probe that cannot run (the container stopped) is False."""

    def disconnect(self, network: str, container_id: str) -> None:
        """Take a container off a network (its aliases and address there go)."""

    def connect(self, network: str, container_id: str, endpoint: dict[str, Any]) -> None:
        """Put a container on a network with these endpoint settings (Aliases,
        IPAMConfig, ...), as the Engine API's EndpointConfig has them."""
