"""Test web service for agentlab's integration tests (stdlib only, Python 3.11+).

``GET /`` and ``GET /version`` return ``{"service", "version", "hostname"}``; ``GET /health``
returns 200, or 503 when the image was built with ``HEALTHY=false`` (version 1.2.0 is built
that way); with ``WEB_ERROR_EVERY=N`` every Nth answer to ``/`` is a 500, with
``WEB_EXTRA_LATENCY_MS`` each is that late. ``WEB_VERSION`` / ``WEB_HEALTHY`` come from
build args; ``WEB_STARTUP_DELAY``
(seconds, default 0) delays listening, like an app that loads before it serves. On SIGTERM
the server stops accepting, finishes in-flight requests and exits 0 (during the start-up
delay it exits at once).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

PORT = int(os.environ.get("PORT", "8000"))
VERSION = os.environ.get("WEB_VERSION") or "unknown"
HEALTHY = os.environ.get("WEB_HEALTHY", "true").lower() not in ("0", "false", "no")
HOSTNAME = socket.gethostname()
STARTUP_DELAY = float(os.environ.get("WEB_STARTUP_DELAY") or 0)
ERROR_EVERY = int(os.environ.get("WEB_ERROR_EVERY") or 0)
EXTRA_LATENCY = float(os.environ.get("WEB_EXTRA_LATENCY_MS") or 0) / 1000
answered = itertools.count(1)  # answers to / and /version, for ERROR_EVERY


def log(event: str) -> None:
    """Print one lifecycle line and flush it."""
    print(f"{time.strftime('%H:%M:%S')} web/{VERSION} {HOSTNAME} {event}", flush=True)


class Handler(BaseHTTPRequestHandler):
    """Answers /, /version and /health with JSON."""

    timeout = 5

    def do_GET(self) -> None:
        """Route a GET request."""
        path = self.path.split("?", 1)[0]
        if path == "/health":
            status = 200 if HEALTHY else 503
            payload: dict[str, Any] = {"status": "ok" if HEALTHY else "unhealthy"}
        elif path in ("/", "/version"):
            status, payload = 200, {"service": "web", "version": VERSION, "hostname": HOSTNAME}
            time.sleep(EXTRA_LATENCY)
            if ERROR_EVERY and next(answered) % ERROR_EVERY == 0:
                status, payload = 500, {"error": "an injected failure", "version": VERSION}
        else:
            status, payload = 404, {"error": f"no such path {path}"}
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def main() -> int:
    """Serve until SIGTERM/SIGINT, then drain and exit 0."""
    for stop in (signal.SIGTERM, signal.SIGINT):  # as PID 1, the defaults would ignore them
        signal.signal(stop, lambda *_: sys.exit(0))
    time.sleep(STARTUP_DELAY)
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = False  # so that server_close() joins the in-flight handlers

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log(f"listening port={PORT} healthy={HEALTHY}")
    server.serve_forever(poll_interval=0.1)
    server.server_close()  # closes the listening socket, joins in-flight handlers
    log("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
