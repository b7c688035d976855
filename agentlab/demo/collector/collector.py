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

On SIGTERM the collector drains like the agents (see ``labserver.py``): it closes its listening
socket, finishes the requests in flight (at most ``DRAIN_TIMEOUT`` seconds) and exits 0.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from labserver import HOSTNAME, JSONHandler, Lifecycle

PORT = int(os.environ.get("PORT", "9000"))
VERSION = os.environ.get("COLLECTOR_VERSION") or "unknown"
REVISION = os.environ.get("COLLECTOR_REVISION") or "unknown"
REPORT_TTL = float(os.environ.get("REPORT_TTL", "30"))
DRAIN_TIMEOUT = float(os.environ.get("DRAIN_TIMEOUT", "5"))
MAX_BODY = 64 * 1024

LAB = Lifecycle("collector", VERSION)


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
            LAB.log("new-reporter", hostname=hostname, version=report.get("version", "?"))

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


class CollectorHandler(JSONHandler):
    """Answers /health, /version, /reports and accepts POST /report."""

    server_version = f"agentlab-collector/{VERSION}"
    timeout = 10

    def do_GET(self) -> None:
        """Route a GET request."""
        path = urlsplit(self.path).path
        if path == "/health":
            if LAB.stopping.is_set():
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


def identity() -> dict[str, Any]:
    """What this replica is."""
    return {"service": "collector", "version": VERSION, "revision": REVISION, "hostname": HOSTNAME}


def main() -> int:
    """Start, serve until SIGTERM/SIGINT, drain, exit 0."""
    LAB.handle_signals()
    LAB.log("starting", revision=REVISION)
    return LAB.serve(PORT, CollectorHandler, DRAIN_TIMEOUT)


if __name__ == "__main__":
    raise SystemExit(main())
