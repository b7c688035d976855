"""Reverse proxy (stdlib only), standing in for nginx ``proxy_pass http://backend:8000``.

Forwards GET/POST/PUT/DELETE/HEAD on port 80 to ``UPSTREAM``, resolving its host name on
every request (so a recreated backend with a new IP is found). Upstream status, body and
headers (``X-Agent-Version`` included) are copied through; every response also carries
``X-Proxy-Version`` (this proxy's version). A 502 the proxy makes itself carries the
proxy's version as ``X-Agent-Version``. Exits 0 on SIGTERM/SIGINT after in-flight requests.
"""
# ruff: noqa: E402  (the early signal handler below must run before the slow imports)

from __future__ import annotations

import signal
import sys

# Before the slow imports: a SIGTERM during start-up exits at once (as PID 1, Python
# ignores SIGTERM until a handler is set; see README.md).
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

import os
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

VERSION = os.environ.get("APP_VERSION") or "dev"
UPSTREAM = os.environ.get("UPSTREAM", "http://backend:8000").rstrip("/")
PORT = int(os.environ.get("PORT", "80"))
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "server", "date", "content-length"}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None  # pass 3xx through to the client


OPENER = urllib.request.build_opener(NoRedirect)


class Handler(BaseHTTPRequestHandler):
    """Forwards every request upstream."""

    timeout = 5

    def forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
        headers["X-Forwarded-For"] = self.client_address[0]
        req = urllib.request.Request(UPSTREAM + self.path, data, headers, method=self.command)
        try:
            try:
                resp = OPENER.open(req, timeout=10)
            except urllib.error.HTTPError as e:
                resp = e  # 4xx/5xx from upstream: still a response to copy through
            with resp:
                status, upstream_headers, body = resp.status, resp.headers.items(), resp.read()
        except (OSError, ValueError) as e:
            status, body = 502, f"502 Bad Gateway: {e}\n".encode()
            upstream_headers = [("Content-Type", "text/plain"), ("X-Agent-Version", VERSION)]
        self.send_response(status)
        for key, value in upstream_headers:
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("X-Proxy-Version", VERSION)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def main() -> int:
    """Serve until SIGTERM/SIGINT, then drain and exit 0."""
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = False  # its default True cuts in-flight requests

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"proxy {VERSION} listening on {PORT} -> {UPSTREAM}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()  # joins the (non-daemon) in-flight handler threads
    print("proxy stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
