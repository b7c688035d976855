"""nginx-flask-db backend (stdlib only), after the sample's Flask ``hello.py``.

``GET /`` (re)writes four blog posts to the db and lists them as
``<div>   Hello  Blog post #i</div>``; ``GET /version`` -> ``{"version": ...}``;
``GET /health`` -> 200 when the db answers PING with the secret's password, else 503.
Every response carries ``X-Agent-Version``. The db password is the runtime secret
``/run/secrets/db-password``. Exits 0 on SIGTERM/SIGINT after in-flight requests finish.
"""
# ruff: noqa: E402  (the early signal handler below must run before the slow imports)

from __future__ import annotations

import signal
import sys

# Before the slow imports: a SIGTERM during start-up exits at once (as PID 1, Python
# ignores SIGTERM until a handler is set; see README.md).
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

VERSION = os.environ.get("APP_VERSION") or "dev"
HOST = os.environ.get("FLASK_RUN_HOST", "0.0.0.0")
PORT = int(os.environ.get("FLASK_RUN_PORT", "8000"))
DB_HOST = os.environ.get("DB_HOST", "db")
PASSWORD_FILE = os.environ.get("DB_PASSWORD_FILE", "/run/secrets/db-password")


def db(*commands: str) -> list[str]:
    """Send commands to the db (after AUTH) and return their replies."""
    with open(PASSWORD_FILE) as f:
        password = f.read().strip()
    with socket.create_connection((DB_HOST, 3306), timeout=3) as s:
        stream = s.makefile("rw")
        stream.write("".join(f"{c}\n" for c in (f"AUTH {password}", *commands)))
        stream.flush()
        replies = [stream.readline().strip() for _ in range(len(commands) + 1)]
    if replies[0] != "OK":
        raise PermissionError("db: authentication failed")
    return replies[1:]


def blog_titles() -> list[str]:
    """Populate the blog posts (idempotent) and read them back."""
    n = range(1, 5)
    replies = db(*[f"SET blog{i} Blog post #{i}" for i in n], *[f"GET blog{i}" for i in n])
    return replies[len(n) :]


class Handler(BaseHTTPRequestHandler):
    """Routes GET requests."""

    timeout = 5

    def end_headers(self) -> None:
        """Add the version header to every response, errors included."""
        self.send_header("X-Agent-Version", VERSION)
        super().end_headers()

    def reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        """Send a complete response."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """/, /version and /health."""
        path = self.path.split("?", 1)[0]
        try:
            if path == "/":
                html = "".join(f"<div>   Hello  {t}</div>" for t in blog_titles())
                self.reply(200, html.encode(), "text/html")
            elif path == "/version":
                self.reply(200, json.dumps({"version": VERSION}).encode())
            elif path == "/health":
                db("PING")
                self.reply(200, b'{"status": "ok"}')
            else:
                self.send_error(404)
        except (OSError, IndexError) as e:
            self.reply(503, json.dumps({"status": "db unavailable", "error": str(e)}).encode())

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def main() -> int:
    """Serve until SIGTERM/SIGINT, then drain and exit 0."""
    server = ThreadingHTTPServer((HOST, PORT), Handler)
    server.daemon_threads = False  # its default True cuts in-flight requests

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"backend {VERSION} listening on {PORT}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()  # joins the (non-daemon) in-flight handler threads
    print("backend stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
