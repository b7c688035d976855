"""react-express-db frontend (stdlib only), standing in for the React dev server.

Serves ``public/`` (bind-mounted, so edits show at once), ``GET /version`` ->
``{"version": ...}`` and ``GET /health`` -> 200, and forwards ``/api...`` to ``BACKEND_URL``
(``http://backend:3000``) with ``devproxy`` from ``node_modules``. Own responses carry this
server's ``X-Agent-Version``; forwarded ones keep the backend's, and every response also has
``X-Frontend-Version``. Exits 0 on SIGTERM/SIGINT after in-flight requests.
"""
# ruff: noqa: E402  (the early signal handler below must run before the slow imports)

from __future__ import annotations

import signal
import sys

# Before the slow imports: a SIGTERM during start-up exits at once (as PID 1, Python
# ignores SIGTERM until a handler is set).
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

import json
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "node_modules"))
import devproxy  # "installed" dependency, see the Dockerfile

VERSION = os.environ.get("APP_VERSION") or "dev"
BACKEND_URL = os.environ.get("BACKEND_URL", "http://backend:3000")


class Handler(SimpleHTTPRequestHandler):
    """Static files from public/, /version, /health and the /api proxy."""

    timeout = 5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=os.path.join(HERE, "public"), **kwargs)

    agent_version = VERSION  # the backend's, on forwarded responses

    def end_headers(self) -> None:
        """Add the version headers to every response, errors included."""
        self.send_header("X-Agent-Version", self.agent_version)
        self.send_header("X-Frontend-Version", VERSION)
        super().end_headers()

    def is_api(self) -> bool:
        return self.path == "/api" or self.path.startswith(("/api/", "/api?"))

    def proxy(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        status, headers, data = devproxy.forward(
            BACKEND_URL, self.command, self.path, list(self.headers.items()), body
        )
        self.send_response(status)
        for key, value in headers:
            if key.lower() == "x-agent-version":
                self.agent_version = value
            else:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.is_api():
            self.proxy()
        elif self.path in ("/version", "/health"):
            payload = {"version": VERSION} if self.path == "/version" else {"status": "ok"}
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()

    def do_POST(self) -> None:
        if self.is_api():
            self.proxy()
        else:
            self.send_error(405)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def main() -> int:
    """Serve until SIGTERM/SIGINT, then drain and exit 0."""
    server = ThreadingHTTPServer(("0.0.0.0", 3000), Handler)
    server.daemon_threads = False  # its default True cuts in-flight requests

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"frontend {VERSION} listening on 3000, /api -> {BACKEND_URL}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()  # joins the (non-daemon) in-flight handler threads
    print("frontend stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
