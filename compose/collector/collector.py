"""Demo collector for the agentlab release lab (stdlib only, Python 3.11+).

Agents POST a small report here every few seconds; the collector keeps the latest report per
hostname. It has its own version track (``COLLECTOR_VERSION``, baked in at build time), which
agent 2.0.0 checks before it calls itself healthy.

Endpoints (port ``PORT``, default 9000):

- ``GET /health`` -> ``{"status": "ok"}``
- ``GET /version`` -> ``{"service", "version", "revision", "hostname"}``
- ``POST /report`` with a JSON object holding at least ``hostname`` -> 202
- ``GET /reports`` -> ``{"version": ..., "reports": {hostname: latest report}}``; each report
  gains ``received_at`` (epoch seconds) and ``age_s``. Reports older than ``REPORT_TTL``
  seconds (default 30) are forgotten.

On SIGTERM the collector drains like the agents: it closes its listening socket, finishes the
requests in flight (at most ``DRAIN_TIMEOUT`` seconds) and exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

PORT = int(os.environ.get("PORT", "9000"))
VERSION = os.environ.get("COLLECTOR_VERSION") or "unknown"
REVISION = os.environ.get("COLLECTOR_REVISION") or "unknown"
REPORT_TTL = float(os.environ.get("REPORT_TTL", "30"))
DRAIN_TIMEOUT = float(os.environ.get("DRAIN_TIMEOUT", "5"))
MAX_BODY = 64 * 1024
HOSTNAME = socket.gethostname()

STOPPING = threading.Event()


def log(event: str, **fields: object) -> None:
    """Print one lifecycle line to stdout and flush it."""
    details = "".join(f" {key}={value}" for key, value in fields.items())
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    print(f"{stamp} collector/{VERSION} {HOSTNAME} {event}{details}", flush=True)


class Reports:
    """The latest report per hostname, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, dict[str, Any]] = {}

    def add(self, report: dict[str, Any]) -> None:
        """Store a report as the latest for its hostname; log first sight of a hostname."""
        hostname = str(report["hostname"])
        with self._lock:
            new = hostname not in self._latest
            self._latest[hostname] = {**report, "received_at": round(time.time(), 3)}
        if new:
            log("new-reporter", hostname=hostname, version=report.get("version", "?"))

    def latest(self) -> dict[str, dict[str, Any]]:
        """Fresh reports (younger than REPORT_TTL) by hostname, each with its age."""
        now = time.time()
        with self._lock:
            stale = [h for h, r in self._latest.items() if now - r["received_at"] > REPORT_TTL]
            for hostname in stale:
                del self._latest[hostname]
            return {
                hostname: {**report, "age_s": round(now - report["received_at"], 1)}
                for hostname, report in sorted(self._latest.items())
            }


REPORTS = Reports()


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


class CollectorHandler(BaseHTTPRequestHandler):
    """Answers /health, /version, /reports and accepts POST /report."""

    server_version = f"agentlab-collector/{VERSION}"
    timeout = 10

    def do_GET(self) -> None:
        """Route a GET request."""
        path = urlsplit(self.path).path
        if path == "/health":
            if STOPPING.is_set():
                self.send_json(503, {"status": "unhealthy", "reason": "draining"})
            else:
                self.send_json(200, {"status": "ok"})
        elif path == "/version":
            self.send_json(200, identity())
        elif path == "/reports":
            self.send_json(200, {"version": VERSION, "reports": REPORTS.latest()})
        else:
            self.send_json(404, {"error": f"no such path {path}"})

    def do_POST(self) -> None:
        """Accept a report: a JSON object with a string ``hostname``."""
        if urlsplit(self.path).path != "/report":
            self.send_json(404, {"error": "POST only to /report"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self.send_json(400, {"error": f"need a JSON body of 1..{MAX_BODY} bytes"})
            return
        try:
            report = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_json(400, {"error": "body is not JSON"})
            return
        if not isinstance(report, dict) or not isinstance(report.get("hostname"), str):
            self.send_json(400, {"error": "report must be an object with a 'hostname' string"})
            return
        REPORTS.add(report)
        self.send_json(202, {"accepted": True})

    def send_json(self, status: int, payload: dict[str, Any]) -> None:
        """Send a JSON response that closes the connection."""
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep stdout for lifecycle events: no access log."""


def identity() -> dict[str, Any]:
    """What this replica is."""
    return {"service": "collector", "version": VERSION, "revision": REVISION, "hostname": HOSTNAME}


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
    log("starting", revision=REVISION)
    server = DrainingHTTPServer(("0.0.0.0", PORT), CollectorHandler)
    log("listening", port=PORT)
    if not STOPPING.is_set():
        server.serve_forever(poll_interval=0.1)
    log("draining", signal=",".join(received) or "-", timeout_s=DRAIN_TIMEOUT)
    unfinished = server.drain(DRAIN_TIMEOUT)
    log("stopped", unfinished=unfinished)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
