#!/usr/bin/env python3
"""Stand-in for mongod (stdlib only): an HTTP JSON document store on port 27017.

``GET /health`` -> ``{"ok": 1}``; ``GET /<db>/<collection>`` -> the documents (a JSON list);
``POST /<db>/<collection>`` with a JSON object inserts it with a fresh ``_id`` and returns it
(201). Data is kept as ``/data/db/<db>.json``. Every response carries ``X-Agent-Version``.
Exits 0 on SIGTERM/SIGINT after in-flight requests.
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
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

VERSION = os.environ.get("APP_VERSION") or "dev"
DBPATH = os.environ.get("MONGO_DBPATH", "/data/db")
PATH_RE = re.compile(r"^/(\w+)/(\w+)$")
LOCK = threading.Lock()
Doc = dict[str, Any]


def db_file(db: str) -> str:
    return os.path.join(DBPATH, f"{db}.json")


def load(db: str) -> dict[str, list[Doc]]:
    """All collections of one database."""
    try:
        with open(db_file(db)) as f:
            data: dict[str, list[Doc]] = json.load(f)
            return data
    except FileNotFoundError:
        return {}


def insert(db: str, collection: str, doc: Doc) -> Doc:
    """Add a document (with a new _id) and persist the database."""
    with LOCK:
        data = load(db)
        doc = {"_id": uuid.uuid4().hex, **doc}
        data.setdefault(collection, []).append(doc)
        with open(db_file(db) + ".tmp", "w") as f:
            json.dump(data, f)
        os.replace(db_file(db) + ".tmp", db_file(db))
    return doc


class Handler(BaseHTTPRequestHandler):
    """GET and POST on /<db>/<collection>, GET /health."""

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
        if self.path == "/health":
            self.reply(200, {"ok": 1, "version": VERSION})
        elif m := PATH_RE.match(self.path):
            with LOCK:
                self.reply(200, load(m[1]).get(m[2], []))
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        m = PATH_RE.match(self.path)
        if not m:
            self.send_error(404)
            return
        try:
            doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            self.reply(400, {"ok": 0, "errmsg": str(e)})
            return
        self.reply(201, insert(m[1], m[2], doc))

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def main() -> int:
    """Serve until SIGTERM/SIGINT, then drain and exit 0."""
    os.makedirs(DBPATH, exist_ok=True)
    server = ThreadingHTTPServer(("0.0.0.0", 27017), Handler)
    server.daemon_threads = False  # its default True cuts in-flight requests

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"mongod {VERSION} waiting for connections on port 27017", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()  # joins the (non-daemon) in-flight handler threads
    print("mongod stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
