"""Demo agent for the agentlab release lab (stdlib only, Python 3.11+).

Version, revision and behaviour are baked into the image at build time (build arg -> ENV):

- ``AGENT_VERSION`` / ``AGENT_REVISION``: reported by ``GET /version``.
- ``AGENT_BEHAVIOUR``: ``normal``; ``never-healthy`` (serves ``/`` and ``/version`` but
  ``/health`` is always 503); ``slow-start`` (sleeps ``STARTUP_DELAY`` seconds, default 8,
  before it listens).
- ``AGENT_REQUIRES``: optional requirement on the collector, e.g. ``collector>=2.0.0``. It is
  checked against the collector's ``/version`` at start-up and on every health check; the
  agent reports unhealthy while it is not met.

Endpoints (port ``PORT``, default 8000): ``GET /``, ``GET /version``, ``GET /health`` and
``GET /slow?ms=N`` (answers after N milliseconds, to demo draining of in-flight requests).
Every ``REPORT_INTERVAL`` seconds (default 2) the agent POSTs a small report to
``$COLLECTOR_URL/report``; failures are logged, never fatal.

On SIGTERM the agent drains: it closes its listening socket (new connections are refused),
finishes the requests in flight (at most ``DRAIN_TIMEOUT`` seconds) and exits 0.
"""

from __future__ import annotations

import json
import operator
import os
import re
import signal
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

PORT = int(os.environ.get("PORT", "8000"))
VERSION = os.environ.get("AGENT_VERSION") or "unknown"
REVISION = os.environ.get("AGENT_REVISION") or "unknown"
BEHAVIOUR = os.environ.get("AGENT_BEHAVIOUR") or "normal"
REQUIRES = os.environ.get("AGENT_REQUIRES", "").strip()
COLLECTOR_URL = os.environ.get("COLLECTOR_URL", "http://collector:9000").rstrip("/")
STARTUP_DELAY = float(os.environ.get("STARTUP_DELAY", "8"))
REPORT_INTERVAL = float(os.environ.get("REPORT_INTERVAL", "2"))
DRAIN_TIMEOUT = float(os.environ.get("DRAIN_TIMEOUT", "5"))
HOSTNAME = socket.gethostname()
STARTED = time.time()

STOPPING = threading.Event()


def log(event: str, **fields: object) -> None:
    """Print one lifecycle line to stdout and flush it."""
    details = "".join(f" {key}={value}" for key, value in fields.items())
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    print(f"{stamp} agent/{VERSION} {HOSTNAME} {event}{details}", flush=True)


# --- the collector requirement (agent 2.0.0 needs collector >= 2.0.0) -----------------------

_REQUIREMENT = re.compile(r"^\s*([\w.-]+)\s*(>=|<=|==|!=|>|<)\s*v?(\d+)\.(\d+)\.(\d+)\s*$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")
_COMPARE = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}


def parse_version(text: str) -> tuple[int, int, int] | None:
    """Return (major, minor, patch) of a semver string, or None when it is not one."""
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


def collector_version(timeout: float = 0.5) -> str:
    """Ask the collector for its version (raises OSError/ValueError on failure)."""
    with urllib.request.urlopen(f"{COLLECTOR_URL}/version", timeout=timeout) as response:
        return str(json.load(response)["version"])


def unmet_requirement() -> str | None:
    """Check AGENT_REQUIRES against the collector; return why it is unmet, or None if met."""
    if not REQUIRES:
        return None
    match = _REQUIREMENT.match(REQUIRES)
    if match is None:
        return f"cannot parse requirement {REQUIRES!r}"
    name, op = match[1], match[2]
    wanted = (int(match[3]), int(match[4]), int(match[5]))
    if name != "collector":
        return f"cannot check requirement on {name!r} (only the collector is known)"
    try:
        found = collector_version()
    except (OSError, ValueError, KeyError) as exc:
        return f"cannot reach collector to check {REQUIRES}: {exc}"
    have = parse_version(found)
    if have is None or not _COMPARE[op](have, wanted):
        return f"requires {REQUIRES}, collector is {found}"
    return None


class Health:
    """Computes health and logs each change between healthy and unhealthy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: str | None = None

    def check(self) -> str | None:
        """Return None when healthy, otherwise the reason."""
        if STOPPING.is_set():
            reason: str | None = "draining"
        elif BEHAVIOUR == "never-healthy":
            reason = "this build never becomes healthy (BEHAVIOUR=never-healthy)"
        else:
            reason = unmet_requirement()
        state = "healthy" if reason is None else f"unhealthy: {reason}"
        with self._lock:
            if state != self._last:
                self._last = state
                log("health", state=repr(state))
        return reason


HEALTH = Health()


# --- reporting to the collector ------------------------------------------------------------


def report_loop() -> None:
    """POST a report to the collector every REPORT_INTERVAL seconds until stopping."""
    failing = False
    while not STOPPING.is_set():
        body = json.dumps(
            {
                "service": "agent",
                "version": VERSION,
                "revision": REVISION,
                "hostname": HOSTNAME,
                "behaviour": BEHAVIOUR,
                "uptime_s": round(time.time() - STARTED, 1),
            }
        ).encode()
        request = urllib.request.Request(
            f"{COLLECTOR_URL}/report",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                response.read()
        except (OSError, ValueError) as exc:
            if not failing:
                log("report-failed", collector=COLLECTOR_URL, error=repr(str(exc)))
            failing = True
        else:
            if failing:
                log("report-ok", collector=COLLECTOR_URL)
            failing = False
        STOPPING.wait(REPORT_INTERVAL)


# --- HTTP --------------------------------------------------------------------------------


class DrainingHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that drains: stop accepting, finish in-flight, then return."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._busy = 0
        self._idle = threading.Condition()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Count the connection as in flight, then hand it to a thread."""
        with self._idle:
            self._busy += 1
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection in its thread and mark it finished."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def drain(self, timeout: float) -> int:
        """Close the listening socket, wait for in-flight requests; return how many remain.

        Call after ``serve_forever`` has returned. Connections the kernel already accepted
        are served; from the moment the socket is closed, new connects are refused.
        """
        self.socket.setblocking(False)
        while True:
            try:
                connection, address = self.socket.accept()
            except OSError:
                break
            self.process_request(connection, address)
        self.server_close()
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            return self._busy


class AgentHandler(BaseHTTPRequestHandler):
    """Answers /, /version, /health and /slow with JSON."""

    server_version = f"agentlab-agent/{VERSION}"
    timeout = 10

    def do_GET(self) -> None:
        """Route a GET request."""
        url = urlsplit(self.path)
        if url.path == "/health":
            reason = HEALTH.check()
            if reason is None:
                self.send_json(200, {"status": "ok"})
            else:
                self.send_json(503, {"status": "unhealthy", "reason": reason})
        elif url.path == "/version":
            self.send_json(200, identity())
        elif url.path == "/":
            self.send_json(200, {**identity(), "message": f"hello from agent {VERSION}"})
        elif url.path == "/slow":
            try:
                millis = int(parse_qs(url.query).get("ms", ["1000"])[0])
            except ValueError:
                self.send_json(400, {"error": "ms must be an integer"})
                return
            millis = max(0, min(millis, 10_000))
            time.sleep(millis / 1000)
            self.send_json(200, {**identity(), "slept_ms": millis})
        else:
            self.send_json(404, {"error": f"no such path {url.path}"})

    def send_json(self, status: int, payload: dict[str, Any]) -> None:
        """Send a JSON response that closes the connection."""
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Agent-Version", VERSION)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep stdout for lifecycle events: no access log."""


def identity() -> dict[str, Any]:
    """What this replica is: version, revision, hostname and build behaviour."""
    return {
        "service": "agent",
        "version": VERSION,
        "revision": REVISION,
        "hostname": HOSTNAME,
        "behaviour": BEHAVIOUR,
        "requires": REQUIRES or None,
    }


def main() -> int:
    """Start, serve until SIGTERM/SIGINT, drain, exit 0."""
    server: DrainingHTTPServer | None = None
    received: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Keep the handler tiny (no printing here): flag, then stop serve_forever elsewhere.
        received.append(signal.Signals(signum).name)
        STOPPING.set()
        running = server
        if running is not None:
            threading.Thread(target=running.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log("starting", revision=REVISION, behaviour=BEHAVIOUR, requires=REQUIRES or "-")
    if BEHAVIOUR == "slow-start":
        log("slow-start", delay_s=STARTUP_DELAY)
        if STOPPING.wait(STARTUP_DELAY):
            log("stopped", signal=",".join(received), before="listening")
            return 0
    if REQUIRES:
        reason = unmet_requirement()
        log("requirement", requires=REQUIRES, met=reason is None, detail=repr(reason or "ok"))
    server = DrainingHTTPServer(("0.0.0.0", PORT), AgentHandler)
    threading.Thread(target=report_loop, name="reporter", daemon=True).start()
    log("listening", port=PORT)
    if not STOPPING.is_set():
        server.serve_forever(poll_interval=0.1)
    log("draining", signal=",".join(received) or "-", timeout_s=DRAIN_TIMEOUT)
    unfinished = server.drain(DRAIN_TIMEOUT)
    log("stopped", unfinished=unfinished)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
