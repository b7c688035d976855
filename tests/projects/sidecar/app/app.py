"""A service and its sidecar, stdlib only. `python3 app.py` serves `/version` and `/health`
on 8000 (503 from /health when built with HEALTHY=false); with MODE=sidecar it asks
http://127.0.0.1:8000/version every half second and prints what answered, which reaches
the app only from inside the app's network namespace (network_mode: service:app)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = os.environ.get("APP_VERSION", "dev")
HEALTHY = os.environ.get("APP_HEALTHY", "true") == "true"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path != "/health" or HEALTHY
        body = json.dumps({"version": VERSION}).encode()
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def sidecar() -> None:
    while True:
        try:
            with urllib.request.urlopen("http://127.0.0.1:8000/version", timeout=1) as answer:
                print(f"sidecar {VERSION} sees app {json.load(answer)['version']}", flush=True)
        except OSError as error:
            print(f"sidecar {VERSION} sees no app: {error}", flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if os.environ.get("MODE") == "sidecar":
        sidecar()
    print(f"app {VERSION} listening", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
