"""flask model app (stdlib only): ``/`` -> "Hello World!", ``/version``, ``/health``.

Every response carries ``X-Agent-Version``. Only SIGINT is handled (compose sets
``stop_signal: SIGINT``): as PID 1, Python ignores SIGTERM, so a stop that sends SIGTERM
instead waits for the 10 s grace period and SIGKILL. On SIGINT the server stops accepting,
finishes in-flight requests and exits 0.
"""
# ruff: noqa: E402  (the early signal handler below must run before the slow imports)

from __future__ import annotations

import signal
import sys

# Before the slow imports: a SIGINT during start-up exits at once (as PID 1, Python
# ignores SIGTERM until a handler is set; see README.md).
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

PORT = int(os.environ.get("PORT", "8000"))
VERSION = os.environ.get("APP_VERSION") or "dev"


class Handler(BaseHTTPRequestHandler):
    """Routes GET requests."""

    timeout = 5

    def end_headers(self) -> None:
        """Add the version header to every response, errors included."""
        self.send_header("X-Agent-Version", VERSION)
        super().end_headers()

    def reply(self, status: int, body: bytes, ctype: str) -> None:
        """Send a complete response."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """/, /version and /health."""
        path = self.path.split("?", 1)[0]
        if path == "/":
            self.reply(200, b"Hello World!", "text/plain")
        elif path in ("/version", "/health"):
            payload = {"version": VERSION} if path == "/version" else {"status": "ok"}
            self.reply(200, json.dumps(payload).encode(), "application/json")
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def main() -> int:
    """Serve until SIGINT, then drain and exit 0."""
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = False  # its default True cuts in-flight requests

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, on_sigint)
    print(f"web {VERSION} listening on {PORT}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()  # joins the (non-daemon) in-flight handler threads
    print("web stopped on SIGINT", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
