"""The router port: the proxy of agentlab's traffic layer, as the rest of agentlab sees it.

A backend per proxied service port; a server per replica, named `<replica>--<version>`
(the proxy's metrics tell versions apart by it). Adapters: HAProxy's runtime API
(traffic/haproxy.py) and an in-memory twin for unit tests (traffic/fake.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

RouteState = Literal["ready", "drain", "maint"]
VERSION_SEPARATOR = "--"


def server_name(replica: str, version: str) -> str:
    """A replica's server name: `<container>--<version tag>`."""
    return f"{replica}{VERSION_SEPARATOR}{version}"


def replica_of(server: str) -> str:
    """The container a server name stands for."""
    return server.rsplit(VERSION_SEPARATOR, 1)[0]


def version_of(server: str) -> str:
    """The version (image tag) a server name carries; empty when it carries none."""
    return server.rsplit(VERSION_SEPARATOR, 1)[1] if VERSION_SEPARATOR in server else ""


@dataclass(frozen=True)
class Route:
    """One server of a backend as the proxy has it."""

    backend: str
    server: str
    address: str
    state: RouteState
    up: bool  # the proxy's own health check passes
    weight: int = 1  # its share of the backend's requests, against the others' weights

    @property
    def replica(self) -> str:
        return replica_of(self.server)

    @property
    def version(self) -> str:
        return version_of(self.server)


class Router(Protocol):
    """Servers added, drained and removed at runtime: the proxy is never reloaded."""

    def routes(self, backend: str) -> list[Route]:
        """The backend's servers."""

    def add(self, backend: str, server: str, address: str, weight: int = 1) -> None:
        """A server at `address` (`ip:port`), health-checked, taking traffic at `weight`."""

    def ready(self, backend: str, server: str) -> None:
        """Take traffic again (after a drain)."""

    def drain(self, backend: str, server: str) -> None:
        """No new requests; those in flight finish."""

    def remove(self, backend: str, server: str) -> None:
        """Out of the backend (its remaining connections are cut)."""

    def weigh(self, backend: str, server: str, weight: int) -> None:
        """Give the server `weight` (0: no new requests by balancing; 256 at most)."""
