"""HAProxy as the router: its runtime API (the `stats socket`, level admin) on a TCP port
published on 127.0.0.1. Dynamic servers (HAProxy 2.4+): `add server`, `enable health`,
`enable server`; `set server ... state drain|maint`; `shutdown sessions server`, `del
server`. The configuration file is never changed, the process never reloaded."""

from __future__ import annotations

import socket

from agentlab.common.errors import EngineUnavailable, OperationFailed
from agentlab.traffic.router import Route, RouteState

TIMEOUT = 5.0
CHECK = "check inter 1s fall 2 rise 1"
_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # srv_admin_state: forced, inherited... maint
_DRAIN = 0x08 | 0x10


class HAProxyRouter:
    """One HAProxy runtime API endpoint; one short connection per command."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def command(self, line: str) -> str:
        """Send one command; its answer. A refused command is OperationFailed."""
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
        answer = b"".join(chunks).decode(errors="replace").strip()
        if _refused(answer):
            raise OperationFailed(
                f"the traffic layer refused `{line}`: {answer.splitlines()[0]}",
                hint="agentlab status; the proxy's log (docker logs) may say more",
            )
        return answer

    def routes(self, backend: str) -> list[Route]:
        answer = self.command(f"show servers state {backend}")
        found = []
        for line in answer.splitlines():
            fields = line.split()
            if len(fields) < 19 or line.startswith("#") or fields[1] != backend:
                continue
            admin = int(fields[6])
            state: RouteState = (
                "maint" if admin & _MAINT else "drain" if admin & _DRAIN else "ready"
            )
            state = _state(int(fields[6]))
            found.append(Route(backend, fields[3], f"{fields[4]}:{fields[18]}", state,
                               fields[5] == "2"))  # fmt: skip
        return found

    def add(self, backend: str, server: str, address: str) -> None:
        self.command(f"add server {backend}/{server} {address} {CHECK}")
        self.command(f"enable health {backend}/{server}")
        self.command(f"enable server {backend}/{server}")

    def ready(self, backend: str, server: str) -> None:
        self.command(f"set server {backend}/{server} state ready")

    def drain(self, backend: str, server: str) -> None:
        self.command(f"set server {backend}/{server} state drain")

    def remove(self, backend: str, server: str) -> None:
        self.command(f"set server {backend}/{server} state maint")
        self.command(f"shutdown sessions server {backend}/{server}")
        self.command(f"del server {backend}/{server}")


def _state(admin: int) -> RouteState:
    """The administrative state from `show servers state`'s srv_admin_state bits."""
    if admin & _MAINT:
        return "maint"
    return "drain" if admin & _DRAIN else "ready"


def _refused(answer: str) -> bool:
    """HAProxy answers errors in words, not codes."""
    first = answer.splitlines()[0].lower() if answer else ""
    return any(word in first for word in ("unknown", "no such", "error", "not found",
                                          "cannot", "can't", "invalid", "require"))  # fmt: skip
