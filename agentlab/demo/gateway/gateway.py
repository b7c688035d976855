"""Demo gateway for the agentlab release lab (stdlib only, Python 3.11+).

Routes HTTP GETs to the replicas of the upstream service (``UPSTREAM_SERVICE``, default
``agent``, port ``UPSTREAM_PORT``, default 8000) on the shared Compose network:

- the service name is resolved with ``socket.getaddrinfo`` (Docker's DNS returns one address
  per running replica), cached for at most ``RESOLVE_TTL`` seconds (default 0.5);
- replicas are picked round-robin, one new connection per request, among those whose
  ``GET /health`` answered 200 at the gateway's last check (every ``HEALTH_INTERVAL``
  seconds, default 1): a replica that starts but never turns healthy gets no traffic, as in
  an orchestrator that routes to healthy tasks only. The others are tried after them (all of
  them while none is healthy), and a replica that failed in the last ``FAILED_PENALTY``
  seconds, default 1, is tried last;
- when a replica refuses or resets the connection, or the connect times out, the request is
  retried on the next replica; after trying them all the gateway pauses briefly, resolves
  again and goes on, within a budget of ``RETRY_BUDGET`` seconds (default 3), then gives 502;
- the upstream's status and JSON body are passed through, with ``X-Agent-Version`` added.

Endpoints (port ``PORT``, default 8080): ``GET /health`` (the gateway itself), ``GET /stats``
(request counts per upstream version, errors, retries; ``?reset=1`` zeroes them after
answering) and every other GET path, which is forwarded.

On SIGTERM the gateway drains (see ``labserver.py``): it closes its listening socket, finishes
the requests in flight (at most ``DRAIN_TIMEOUT`` seconds) and exits 0.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import socket
import threading
import time
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from labserver import HOSTNAME, JSONHandler, Lifecycle

PORT = int(os.environ.get("PORT", "8080"))
VERSION = os.environ.get("GATEWAY_VERSION") or "unknown"
REVISION = os.environ.get("GATEWAY_REVISION") or "unknown"
UPSTREAM_SERVICE = os.environ.get("UPSTREAM_SERVICE", "agent")
UPSTREAM_PORT = int(os.environ.get("UPSTREAM_PORT", "8000"))
RESOLVE_TTL = float(os.environ.get("RESOLVE_TTL", "0.5"))
CONNECT_TIMEOUT = float(os.environ.get("CONNECT_TIMEOUT", "0.5"))
READ_TIMEOUT = float(os.environ.get("READ_TIMEOUT", "15"))
RETRY_BUDGET = float(os.environ.get("RETRY_BUDGET", "3"))
RETRY_PAUSE = float(os.environ.get("RETRY_PAUSE", "0.2"))
FAILED_PENALTY = float(os.environ.get("FAILED_PENALTY", "1"))
HEALTH_INTERVAL = float(os.environ.get("HEALTH_INTERVAL", "1"))
DRAIN_TIMEOUT = float(os.environ.get("DRAIN_TIMEOUT", "5"))

LAB = Lifecycle("gateway", VERSION)


# --- finding and calling replicas -----------------------------------------------------------


class Balancer:
    """Balances requests over the upstream replicas: their addresses from DNS (cached for
    ``ttl`` seconds), those whose health check passed, in turn."""

    def __init__(self, service: str, port: int, ttl: float) -> None:
        self.service, self.port, self.ttl = service, port, ttl
        self._lock = threading.Lock()
        self._addresses: list[str] = []
        self._resolved_at = -float("inf")
        self._turn = itertools.count()
        self._failed_at: dict[str, float] = {}
        self._healthy: frozenset[str] = frozenset()

    def addresses(self, refresh: bool = False) -> list[str]:
        """The current replica addresses (sorted); ``refresh`` bypasses the cache."""
        with self._lock:
            if refresh or time.monotonic() - self._resolved_at > self.ttl:
                try:
                    infos = socket.getaddrinfo(self.service, self.port, type=socket.SOCK_STREAM)
                except OSError:
                    infos = []
                addresses = sorted({str(info[4][0]) for info in infos})
                if addresses != self._addresses:
                    LAB.log("upstreams", service=self.service, addresses=",".join(addresses) or "-")
                self._addresses, self._resolved_at = addresses, time.monotonic()
            return list(self._addresses)

    def rotation(self, addresses: list[str]) -> list[str]:
        """The addresses in round-robin order: healthy ones first, then the rest; within
        each, those that failed in the last second last."""
        if not addresses:
            return []
        start = next(self._turn) % len(addresses)
        ordered = addresses[start:] + addresses[:start]
        now = time.monotonic()
        with self._lock:
            recent = {a for a, at in self._failed_at.items() if now - at < FAILED_PENALTY}
            healthy = set(self._healthy)
        return sorted(ordered, key=lambda a: (a not in healthy, a in recent))

    def set_healthy(self, addresses: frozenset[str]) -> None:
        """Record which replicas passed the last health check."""
        with self._lock:
            changed, self._healthy = addresses != self._healthy, addresses
        if changed:
            LAB.log("healthy", addresses=",".join(sorted(addresses)) or "-")

    def check_health(self) -> None:
        """Forever: GET /health on every replica (in parallel), then sleep HEALTH_INTERVAL."""
        while True:
            passed: set[str] = set()
            probes = [
                threading.Thread(target=_check_into, args=(address, passed), daemon=True)
                for address in self.addresses()
            ]
            for probe in probes:
                probe.start()
            for probe in probes:
                probe.join(timeout=CONNECT_TIMEOUT + 1)
            self.set_healthy(frozenset(passed))  # late probes no longer change it
            time.sleep(HEALTH_INTERVAL)

    def failed(self, address: str) -> None:
        """Note that a replica refused or dropped a connection (it is tried last for a while)."""
        with self._lock:
            self._failed_at[address] = time.monotonic()
            if len(self._failed_at) > 256:
                self._failed_at.clear()


class Unavailable(Exception):
    """The replica refused, reset or did not accept the connection: try another one."""


class Answer(NamedTuple):
    """An upstream response."""

    status: int
    body: bytes
    content_type: str
    version: str


def call(address: str, path: str, client: str) -> Answer:
    """GET ``path`` from one replica on a new connection.

    Raises Unavailable for connection-level failures (safe to retry, the request is a GET) and
    TimeoutError when a connected replica does not answer within READ_TIMEOUT.
    """
    host = f"[{address}]" if ":" in address else address
    connection = http.client.HTTPConnection(host, UPSTREAM_PORT, timeout=CONNECT_TIMEOUT)
    try:
        try:
            connection.connect()
        except OSError as exc:  # refused, unreachable, connect timeout
            raise Unavailable(f"{address}: {exc}") from exc
        assert connection.sock is not None
        connection.sock.settimeout(READ_TIMEOUT)
        try:
            connection.request(
                "GET",
                path,
                headers={"X-Forwarded-For": client, "Connection": "close"},
            )
            response = connection.getresponse()
            body = response.read()
        except (ConnectionError, http.client.HTTPException) as exc:  # reset, closed early
            raise Unavailable(f"{address}: {exc!r}") from exc
        version = response.getheader("X-Agent-Version") or _version_from(body)
        content_type = response.getheader("Content-Type") or "application/json"
        return Answer(response.status, body, content_type, version)
    finally:
        connection.close()


def _answers_health(address: str) -> bool:
    """Whether the replica's ``GET /health`` answers 200 within CONNECT_TIMEOUT."""
    host = f"[{address}]" if ":" in address else address
    connection = http.client.HTTPConnection(host, UPSTREAM_PORT, timeout=CONNECT_TIMEOUT)
    try:
        connection.request("GET", "/health", headers={"Connection": "close"})
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _check_into(address: str, passed: set[str]) -> None:
    """Add ``address`` to ``passed`` when its health check answers 200."""
    if _answers_health(address):
        passed.add(address)


def _version_from(body: bytes) -> str:
    """The ``version`` field of a JSON body, or "unknown"."""
    try:
        payload = json.loads(body)
    except ValueError:
        return "unknown"
    return str(payload.get("version", "unknown")) if isinstance(payload, dict) else "unknown"


def error_answer(status: int, message: str, attempts: int) -> Answer:
    """A gateway-made JSON error response."""
    body = json.dumps({"error": message, "attempts": attempts, "gateway": HOSTNAME}).encode()
    return Answer(status, body, "application/json", "none")


class Stats:
    """Request counts per upstream version, gateway errors and retries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._since = time.time()
            self._requests = self._errors = self._retries = 0
            self._by_version: dict[str, dict[str, int]] = {}
            self._failures: dict[str, int] = {}

    def record(self, answer: Answer, retries: int, failure: str | None) -> None:
        """Count one forwarded request."""
        with self._lock:
            self._requests += 1
            self._retries += retries
            error = answer.status >= 500
            self._errors += error
            if failure is not None:
                self._failures[failure] = self._failures.get(failure, 0) + 1
            else:
                counts = self._by_version.setdefault(answer.version, {"requests": 0, "errors": 0})
                counts["requests"] += 1
                counts["errors"] += error

    def snapshot(self) -> dict[str, Any]:
        """The counters as a JSON-able dict."""
        with self._lock:
            return {
                "gateway_version": VERSION,
                "since": round(self._since, 3),
                "requests": self._requests,
                "errors": self._errors,
                "retries": self._retries,
                "by_version": {v: dict(c) for v, c in sorted(self._by_version.items())},
                "failures": dict(self._failures),
            }


BALANCER = Balancer(UPSTREAM_SERVICE, UPSTREAM_PORT, RESOLVE_TTL)
STATS = Stats()


def route(path: str, client: str) -> Answer:
    """Forward a GET to a replica, retrying others on connection failures; count it."""
    deadline = time.monotonic() + RETRY_BUDGET
    attempts = 0
    refresh = False
    while True:
        for address in BALANCER.rotation(BALANCER.addresses(refresh)):
            attempts += 1
            try:
                answer = call(address, path, client)
            except Unavailable:
                BALANCER.failed(address)
                if time.monotonic() >= deadline:
                    break
                continue
            except TimeoutError:
                answer = error_answer(504, f"{address} did not answer in time", attempts)
                STATS.record(answer, attempts - 1, "timeout")
                return answer
            STATS.record(answer, attempts - 1, None)
            return answer
        if time.monotonic() + RETRY_PAUSE >= deadline:
            break
        time.sleep(RETRY_PAUSE)
        refresh = True
    message = f"no replica of {UPSTREAM_SERVICE}:{UPSTREAM_PORT} accepted the request"
    answer = error_answer(502, message, attempts)
    STATS.record(answer, max(attempts - 1, 0), "no_upstream")
    return answer


# --- HTTP --------------------------------------------------------------------------------


class GatewayHandler(JSONHandler):
    """Serves /health and /stats; forwards every other GET upstream."""

    server_version = f"agentlab-gateway/{VERSION}"
    timeout = 30

    def do_GET(self) -> None:
        """Route a GET request."""
        url = urlsplit(self.path)
        if url.path == "/health":
            self.send_json(200, {"status": "ok"})
        elif url.path == "/stats":
            snapshot = STATS.snapshot()
            if parse_qs(url.query).get("reset", ["0"])[0] not in ("", "0", "false"):
                STATS.reset()
            self.send_json(200, snapshot)
        else:
            answer = route(self.path, self.client_address[0])
            headers = {"X-Agent-Version": answer.version}
            self.send_body(answer.status, answer.body, answer.content_type, headers)


def main() -> int:
    """Start, serve until SIGTERM/SIGINT, drain, exit 0."""
    LAB.handle_signals()
    LAB.log("starting", revision=REVISION, upstream=f"{UPSTREAM_SERVICE}:{UPSTREAM_PORT}")
    return LAB.serve(PORT, GatewayHandler, DRAIN_TIMEOUT, background=BALANCER.check_health)


if __name__ == "__main__":
    raise SystemExit(main())
