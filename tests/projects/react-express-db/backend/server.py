"""react-express-db backend (stdlib only), after the sample's Express ``server.js``.

Waits for mongo (retrying every second) before it listens on 3000, like the sample.
``GET /api`` -> the todos (a JSON list); ``POST /api/todos`` ``{"text": ...}`` -> the new
todo (201); ``GET /api/greeting`` -> ``{"greeting": $GREETING}`` (set in backend.env);
``GET /version`` -> ``{"version": ...}``; ``GET /health`` -> 200 while mongo answers, else 503.
Every response carries ``X-Agent-Version``. The mongo client is imported from
``node_modules`` (installed by the Dockerfile, kept by the anonymous volume). Exits 0 on
SIGTERM/SIGINT, also while still waiting for mongo, after in-flight requests.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_modules"))
from mongoclient import Collection  # "installed" dependency, see the Dockerfile

VERSION = os.environ.get("APP_VERSION") or "dev"
GREETING = os.environ.get("GREETING", "")
MONGODB_URI = os.environ.get("MONGODB_URI", "http://mongo:27017/TodoApp")
TODOS = Collection(MONGODB_URI, "todos")
STOP = threading.Event()


class Handler(BaseHTTPRequestHandler):
    """The /api routes plus /version and /health."""

    timeout = 5

    def end_headers(self) -> None:
        """Add the version header to every response, errors included."""
        self.send_header("X-Agent-Version", VERSION)
        super().end_headers()

    def reply(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        try:
            if path == "/api":
                self.reply(200, TODOS.find())
            elif path == "/api/greeting":
                self.reply(200, {"greeting": GREETING})
            elif path == "/version":
                self.reply(200, {"version": VERSION})
            elif path == "/health":
                TODOS.ping()
                self.reply(200, {"status": "ok"})
            else:
                self.send_error(404)
        except (OSError, ValueError) as e:
            self.reply(503, {"status": "mongo unavailable", "error": str(e)})

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/api/todos":
            self.send_error(404)
            return
        try:
            todo = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            text = todo["text"] if isinstance(todo, dict) else None
        except (ValueError, KeyError):
            text = None
        if not isinstance(text, str) or not text:
            self.reply(400, {"error": 'expected {"text": "..."}'})
            return
        try:
            self.reply(201, TODOS.insert_one({"text": text}))
        except (OSError, ValueError) as e:
            self.reply(503, {"status": "mongo unavailable", "error": str(e)})

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def wait_for_mongo() -> bool:
    """Retry every second until mongo answers; False if stopped meanwhile."""
    while not STOP.is_set():
        try:
            if TODOS.ping():
                return True
        except (OSError, ValueError) as e:
            print(f"mongo not ready ({e}); retrying in 1s", flush=True)
        STOP.wait(1)
    return False


def main() -> int:
    """Wait for mongo, then serve until SIGTERM/SIGINT; drain and exit 0."""
    server: ThreadingHTTPServer | None = None

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        STOP.set()
        if server is not None:
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if wait_for_mongo():
        server = ThreadingHTTPServer(("0.0.0.0", 3000), Handler)
        server.daemon_threads = False  # its default True cuts in-flight requests
        print(f"backend {VERSION} connected to {MONGODB_URI}; listening on 3000", flush=True)
        if not STOP.is_set():
            server.serve_forever(poll_interval=0.1)
        server.server_close()  # joins the (non-daemon) in-flight handler threads
    print("backend stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
