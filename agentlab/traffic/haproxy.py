"""HAProxy as the router: its runtime API (the `stats socket`, level admin) on a TCP port
published on 127.0.0.1. Dynamic servers (HAProxy 2.4+): `add server`, `enable health`,
`enable server`; `set server ... state drain|maint` and `weight`; `shutdown sessions server`, `del
server`. The configuration file is never changed, the process never reloaded."""

from __future__ import annotations

import socket
import time

from agentlab.common.errors import EngineUnavailable, OperationFailed
from agentlab.traffic.router import Route, RouteState

TIMEOUT = 5.0
# A dynamic server takes nothing from `defaults`: without a pool of idle connections
# (`pool-max-conn`, `pool-purge-delay`) HAProxy 2.6 opens one per request, at a third of
# the throughput (benchmarks/bench_proxy.py).
SERVER_OPTIONS = "check inter 1s fall 2 rise 1 pool-max-conn -1 pool-purge-delay 5s"
REFUSALS = ("unknown", "no such", "error", "not found", "cannot", "can't", "invalid", "require")
STILL_CONNECTED = "still has connections"  # `del server` while idle connections close
_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # srv_admin_state: forced, inherited... maint
_DRAIN = 0x08 | 0x10


class HAProxyRouter:
    """One HAProxy runtime API endpoint; one short connection per command."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def command(self, line: str) -> str:
        """Send one command; its answer. A refused command is OperationFailed."""
        return _accepted(line, self._send(line))

    def _send(self, line: str) -> str:
        try:
            with socket.create_connection((self.host, self.port), timeout=TIMEOUT) as conn:
                conn.sendall(line.encode() + b"\n")
                conn.shutdown(socket.SHUT_WR)
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
        except OSError as error:
            raise EngineUnavailable(
                f"agentlab's traffic layer does not answer on {self.host}:{self.port} ({error})",
                hint="agentlab up starts it; agentlab status shows it",
            ) from None
        return b"".join(chunks).decode(errors="replace").strip()

    def routes(self, backend: str) -> list[Route]:
        answer = self.command(f"show servers state {backend}")
        found = []
        for line in answer.splitlines():
            fields = line.split()
            if len(fields) < 19 or line.startswith("#") or fields[1] != backend:
                continue
            address, up = f"{fields[4]}:{fields[18]}", fields[5] == "2"
            state, weight = _state(int(fields[6])), int(fields[7])
            found.append(Route(backend, fields[3], address, state, up, weight))
        return found

    def add(self, backend: str, server: str, address: str, weight: int = 1) -> None:
        self.command(f"add server {backend}/{server} {address} {SERVER_OPTIONS} weight {weight}")
        self.command(f"enable health {backend}/{server}")
        self.command(f"enable server {backend}/{server}")

    def ready(self, backend: str, server: str) -> None:
        self.command(f"set server {backend}/{server} state ready")

    def drain(self, backend: str, server: str) -> None:
        self.command(f"set server {backend}/{server} state drain")

    def weigh(self, backend: str, server: str, weight: int) -> None:
        self.command(f"set server {backend}/{server} weight {weight}")

    def remove(self, backend: str, server: str) -> None:
        self.command(f"set server {backend}/{server} state maint")
        self.command(f"shutdown sessions server {backend}/{server}")
        line, deadline = f"del server {backend}/{server}", time.monotonic() + TIMEOUT
        answer = self._send(line)
        while STILL_CONNECTED in answer.lower() and time.monotonic() < deadline:
            time.sleep(0.02)  # maint closes the server's idle connections, on its own time
            answer = self._send(line)
        _accepted(line, answer)


def _state(admin: int) -> RouteState:
    """The administrative state from `show servers state`'s srv_admin_state bits."""
    if admin & _MAINT:
        return "maint"
    return "drain" if admin & _DRAIN else "ready"


def _accepted(line: str, answer: str) -> str:
    """The answer, unless it refuses the command: HAProxy answers errors in words, not
    codes (tables start with a `#` header line)."""
    first = answer.splitlines()[0] if answer else ""
    if not first.startswith("#") and any(word in first.lower() for word in REFUSALS):
        raise OperationFailed(
            f"the traffic layer refused `{line}`: {first}",
            hint="agentlab status; the proxy's log (docker logs) may say more",
        )
    return answer
