"""Test cache service for agentlab's integration tests (stdlib only, Python 3.11+).

A tiny in-memory counter: ``GET /`` returns ``{"service", "version", "hits"}`` and counts the
hit. It is published on a fixed host port in compose.yaml, so it can never take an extra
replica; agentlab must say so instead of trying. Exits 0 on SIGTERM.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

PORT = int(os.environ.get("PORT", "7000"))
VERSION = os.environ.get("CACHE_VERSION") or "unknown"
HITS = itertools.count(1)


class Handler(BaseHTTPRequestHandler):
    """Answers every GET with the hit count."""

    timeout = 5

    def do_GET(self) -> None:
        """Count a hit and answer with JSON."""
        body = json.dumps({"service": "cache", "version": VERSION, "hits": next(HITS)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def main() -> int:
    """Serve until SIGTERM/SIGINT, then exit 0."""
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"cache/{VERSION} listening port={PORT}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    print(f"cache/{VERSION} stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
