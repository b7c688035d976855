"""An in-memory Router for unit tests: servers per backend, with their state, and a log
of every call."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from agentlab.common.errors import OperationFailed
from agentlab.traffic.router import Route


@dataclass
class FakeRouter:
    """The Router protocol in memory; `down` makes every call fail like a dead proxy."""

    backends: dict[str, dict[str, Route]] = field(default_factory=dict)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    down: bool = False

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.down:
            raise OperationFailed("the fake proxy is down", hint="down=False")

    def routes(self, backend: str) -> list[Route]:
        self._record("routes", backend)
        return list(self.backends.get(backend, {}).values())

    def add(self, backend: str, server: str, address: str, weight: int = 1) -> None:
        self._record("add", backend, server, address)
        servers = self.backends.setdefault(backend, {})
        if server in servers:
            raise OperationFailed(f"server {server} exists", hint="remove it first")
        servers[server] = Route(backend, server, address, "ready", True, weight)

    def ready(self, backend: str, server: str) -> None:
        self._record("ready", backend, server)
        self._set(backend, server, "ready")

    def drain(self, backend: str, server: str) -> None:
        self._record("drain", backend, server)
        self._set(backend, server, "drain")

    def weigh(self, backend: str, server: str, weight: int) -> None:
        self._record("weigh", backend, server, weight)
        self.backends[backend][server] = replace(self._server(backend, server), weight=weight)

    def remove(self, backend: str, server: str) -> None:
        self._record("remove", backend, server)
        self._server(backend, server)
        del self.backends[backend][server]

    def serving(self, backend: str) -> list[str]:
        """The servers that take new requests by balancing."""
        routes = self.backends.get(backend, {}).items()
        return sorted(s for s, r in routes if r.state == "ready" and r.weight > 0)

    def _server(self, backend: str, server: str) -> Route:
        found = self.backends.get(backend, {}).get(server)
        if found is None:
            raise OperationFailed(f"no server {backend}/{server}", hint="add it first")
        return found

    def _set(self, backend: str, server: str, state: Any) -> None:
        self.backends[backend][server] = replace(self._server(backend, server), state=state)
