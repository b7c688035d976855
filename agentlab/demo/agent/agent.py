"""Demo agent for the agentlab release lab (stdlib only, Python 3.11+).

Version, revision and behaviour are baked into the image at build time (build arg -> ENV):

- ``AGENT_VERSION`` / ``AGENT_REVISION``: reported by ``GET /version``.
- ``AGENT_BEHAVIOUR``: ``normal``; ``never-healthy`` (serves ``/`` and ``/version`` but
  ``/health`` is always 503); ``slow-start`` (sleeps ``STARTUP_DELAY`` seconds, default 8,
  before it listens); ``errors`` (healthy, but 1 answer in 20 to ``/`` and ``/version`` is
  a 500); ``slow`` (healthy, but ``/`` and ``/version`` answer 300 ms late). The last two
  fail only under a canary's analysis.
- ``AGENT_REQUIRES``: optional requirement on the collector, e.g. ``collector>=2.0.0``. It is
  checked against the collector's ``/version`` at start-up and on every health check; the
  agent reports unhealthy while it is not met.

Endpoints (port ``PORT``, default 8000): ``GET /``, ``GET /version``, ``GET /health`` and
``GET /slow?ms=N`` (answers after N milliseconds, to demo draining of in-flight requests).
Every ``REPORT_INTERVAL`` seconds (default 2) the agent POSTs a small report to
``$COLLECTOR_URL/report``; failures are logged, never fatal.

On SIGTERM the agent drains (see ``labserver.py``, copied beside it in the image): it closes
its listening socket (new connections are refused), finishes the requests in flight (at most
``DRAIN_TIMEOUT`` seconds) and exits 0.
"""

from __future__ import annotations

import itertools
import json
import operator
import os
import re
import threading
import time
import urllib.request
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from labserver import HOSTNAME, JSONHandler, Lifecycle

PORT = int(os.environ.get("PORT", "8000"))
VERSION = os.environ.get("AGENT_VERSION") or "unknown"
REVISION = os.environ.get("AGENT_REVISION") or "unknown"
BEHAVIOUR = os.environ.get("AGENT_BEHAVIOUR") or "normal"
REQUIRES = os.environ.get("AGENT_REQUIRES", "").strip()
COLLECTOR_URL = os.environ.get("COLLECTOR_URL", "http://collector:9000").rstrip("/")
STARTUP_DELAY = float(os.environ.get("STARTUP_DELAY", "8"))
ERROR_EVERY = 20  # BEHAVIOUR=errors: 5 % of answers
SLOW_BY = 0.3  # BEHAVIOUR=slow: seconds added to each answer
ANSWERS = itertools.count(1)
REPORT_INTERVAL = float(os.environ.get("REPORT_INTERVAL", "2"))
DRAIN_TIMEOUT = float(os.environ.get("DRAIN_TIMEOUT", "5"))
STARTED = time.time()

LAB = Lifecycle("agent", VERSION)


# --- the collector requirement (agent 2.0.0 needs collector >= 2.0.0) -----------------------

_REQUIREMENT = re.compile(r"^\s*([\w.-]+)\s*(>=|<=|==|!=|>|<)\s*v?(\d+)\.(\d+)\.(\d+)\s*$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")
_COMPARE = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}


def parse_version(text: str) -> tuple[int, int, int] | None:
    """Return (major, minor, patch) of a semver string, or None when it is not one."""
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


def collector_version(timeout: float = 0.5) -> str:
    """Ask the collector for its version (raises OSError/ValueError on failure)."""
    with urllib.request.urlopen(f"{COLLECTOR_URL}/version", timeout=timeout) as response:
        return str(json.load(response)["version"])


def unmet_requirement() -> str | None:
    """Check AGENT_REQUIRES against the collector; return why it is unmet, or None if met."""
    if not REQUIRES:
        return None
    match = _REQUIREMENT.match(REQUIRES)
    if match is None:
        return f"cannot parse requirement {REQUIRES!r}"
    name, op = match[1], match[2]
    wanted = (int(match[3]), int(match[4]), int(match[5]))
    if name != "collector":
        return f"cannot check requirement on {name!r} (only the collector is known)"
    try:
        found = collector_version()
    except (OSError, ValueError, KeyError) as exc:
        return f"cannot reach collector to check {REQUIRES}: {exc}"
    have = parse_version(found)
    if have is None or not _COMPARE[op](have, wanted):
        return f"requires {REQUIRES}, collector is {found}"
    return None


class Health:
    """Computes health and logs each change between healthy and unhealthy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: str | None = None

    def check(self) -> str | None:
        """Return None when healthy, otherwise the reason."""
        if LAB.stopping.is_set():
            reason: str | None = "draining"
        elif BEHAVIOUR == "never-healthy":
            reason = "this build never becomes healthy (BEHAVIOUR=never-healthy)"
        else:
            reason = unmet_requirement()
        state = "healthy" if reason is None else f"unhealthy: {reason}"
        with self._lock:
            if state != self._last:
                self._last = state
                LAB.log("health", state=repr(state))
        return reason


HEALTH = Health()


# --- reporting to the collector ------------------------------------------------------------


def report_loop() -> None:
    """POST a report to the collector every REPORT_INTERVAL seconds until stopping."""
    failing = False
    while not LAB.stopping.is_set():
        body = json.dumps(
            {
                "service": "agent",
                "version": VERSION,
                "revision": REVISION,
                "hostname": HOSTNAME,
                "behaviour": BEHAVIOUR,
                "uptime_s": round(time.time() - STARTED, 1),
            }
        ).encode()
        request = urllib.request.Request(
            f"{COLLECTOR_URL}/report",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                response.read()
        except (OSError, ValueError) as exc:
            if not failing:
                LAB.log("report-failed", collector=COLLECTOR_URL, error=repr(str(exc)))
            failing = True
        else:
            if failing:
                LAB.log("report-ok", collector=COLLECTOR_URL)
            failing = False
        LAB.stopping.wait(REPORT_INTERVAL)


# --- HTTP --------------------------------------------------------------------------------


class AgentHandler(JSONHandler):
    """Answers /, /version, /health and /slow with JSON."""

    server_version = f"agentlab-agent/{VERSION}"
    timeout = 10
    reply_headers: ClassVar[Mapping[str, str]] = {"X-Agent-Version": VERSION}

    def do_GET(self) -> None:
        """Route a GET request."""
        url = urlsplit(self.path)
        if url.path == "/health":
            reason = HEALTH.check()
            if reason is None:
                self.send_json(200, {"status": "ok"})
            else:
                self.send_json(503, {"status": "unhealthy", "reason": reason})
        elif url.path in ("/", "/version") and misbehave():
            self.send_json(500, {**identity(), "error": "an injected failure (BEHAVIOUR=errors)"})
        elif url.path == "/version":
            self.send_json(200, identity())
        elif url.path == "/":
            self.send_json(200, {**identity(), "message": f"hello from agent {VERSION}"})
        elif url.path == "/slow":
            try:
                millis = int(parse_qs(url.query).get("ms", ["1000"])[0])
            except ValueError:
                self.send_json(400, {"error": "ms must be an integer"})
                return
            millis = max(0, min(millis, 10_000))
            time.sleep(millis / 1000)
            self.send_json(200, {**identity(), "slept_ms": millis})
        else:
            self.send_json(404, {"error": f"no such path {url.path}"})


def misbehave() -> bool:
    """What the `errors` and `slow` builds do to an answer: True for a 500 (1 in 20)."""
    if BEHAVIOUR == "slow":
        time.sleep(SLOW_BY)
    return BEHAVIOUR == "errors" and next(ANSWERS) % ERROR_EVERY == 0


def identity() -> dict[str, Any]:
    """What this replica is: version, revision, hostname and build behaviour."""
    return {
        "service": "agent",
        "version": VERSION,
        "revision": REVISION,
        "hostname": HOSTNAME,
        "behaviour": BEHAVIOUR,
        "requires": REQUIRES or None,
    }


def main() -> int:
    """Start, serve until SIGTERM/SIGINT, drain, exit 0."""
    LAB.handle_signals()
    LAB.log("starting", revision=REVISION, behaviour=BEHAVIOUR, requires=REQUIRES or "-")
    if BEHAVIOUR == "slow-start":
        LAB.log("slow-start", delay_s=STARTUP_DELAY)
        if LAB.stopping.wait(STARTUP_DELAY):
            LAB.log("stopped", signal=LAB.signals, before="listening")
            return 0
    if REQUIRES:
        reason = unmet_requirement()
        LAB.log("requirement", requires=REQUIRES, met=reason is None, detail=repr(reason or "ok"))
    return LAB.serve(PORT, AgentHandler, DRAIN_TIMEOUT, background=report_loop)


if __name__ == "__main__":
    raise SystemExit(main())
