"""Open-loop HTTP traffic through a lab gateway, counted per agent version.

A pacer thread schedules GET requests at exact intervals; a small pool of worker
threads sends them, no retries: one new connection per request, or (`keep_alive`) each
worker's own connection, reused until it fails (then that request fails and the next
one connects again). Slow answers
do not lower the offered rate: a request that waits longer than the timeout for
a free worker fails as "backlog". Latency counts from the scheduled send time,
so client-side queueing under load is not hidden.
"""

from __future__ import annotations

import http.client
import json
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from agentlab.common.errors import BadInput

VERSION_HEADER = "X-Agent-Version"
UNKNOWN = "unknown"
MAX_RPS = 1000.0
MAX_DURATION = 3600.0  # seconds; the pacer stops on its own after this
MAX_TIMEOUT = 60.0
MAX_WORKERS = 64
WINDOW = 60  # seconds of per-second series kept for live panels
STOP_GRACE = 0.5  # seconds stop() waits for requests in flight
_MAX_BODY = 65536
_LOG_STEP = math.log(1.01)  # latency buckets 1% wide


@dataclass(frozen=True)
class LatencyStats:
    """Successful requests of one version and their latency, in milliseconds."""

    count: int
    p50_ms: float
    p95_ms: float
    max_ms: float


@dataclass
class TrafficReport:
    """What a traffic run saw. `sent` counts completed requests (ok + failed);
    series hold one count per second, oldest first, for up to the last 60 s."""

    url: str
    offered_rps: float
    duration: float = 0.0
    sent: int = 0
    ok: int = 0
    failed: int = 0
    versions: dict[str, LatencyStats] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    ok_series: dict[str, list[int]] = field(default_factory=dict)
    failed_series: list[int] = field(default_factory=list)

    @property
    def achieved_rps(self) -> float:
        return self.sent / self.duration if self.duration > 0 else 0.0

    @property
    def lost(self) -> int:
        """Failed requests that were sent: a `backlog` one never left (this client fell
        behind on a busy machine, not the service)."""
        return self.failed - self.failures.get("backlog", 0)

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.sent if self.sent else 0.0

    def series(self, version: str) -> list[int]:
        """Ok requests per second for one version (zeros when it was never seen)."""
        return self.ok_series.get(version, [0] * len(self.failed_series))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for `--json` output."""
        return {
            "url": self.url,
            "offered_rps": self.offered_rps,
            "achieved_rps": round(self.achieved_rps, 3),
            "duration_s": round(self.duration, 3),
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "failure_ratio": round(self.failure_ratio, 4),
            "failures": dict(self.failures.most_common()),
            "versions": {
                name: {
                    "ok": stats.count,
                    "p50_ms": round(stats.p50_ms, 3),
                    "p95_ms": round(stats.p95_ms, 3),
                    "max_ms": round(stats.max_ms, 3),
                }
                for name, stats in sorted(self.versions.items())
            },
            "series": {"ok": self.ok_series, "failed": self.failed_series},
        }

    def lines(self) -> list[str]:
        """A short table: one line per version, then a total line."""
        width = max([len("total"), *map(len, self.versions)]) + 3
        digits = max([1, *(len(str(s.count)) for s in self.versions.values())])
        rows = [
            f"{name:<{width}}ok {stats.count:<{digits}}  "
            f"p50 {stats.p50_ms:.1f} ms  p95 {stats.p95_ms:.1f} ms"
            for name, stats in sorted(self.versions.items())
        ]
        total = (
            f"{'total':<{width}}sent {self.sent}  ok {self.ok}  "
            f"failed {self.failed} ({self.failure_ratio:.1%})"
        )
        if self.failures:
            total += "  " + ", ".join(f"{r} x{n}" for r, n in self.failures.most_common())
        total += f"  {self.achieved_rps:.1f} req/s over {self.duration:.1f} s"
        return [*rows, total]


class _Histogram:
    """Latencies in log buckets 1% wide: bounded memory, percentiles within 1%."""

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.max_ms = 0.0

    def add(self, ms: float) -> None:
        self.buckets[math.floor(math.log(max(ms, 1e-3)) / _LOG_STEP)] += 1
        self.count += 1
        self.max_ms = max(self.max_ms, ms)

    def quantile(self, q: float) -> float:
        """Nearest-rank quantile, reported at the middle of its bucket."""
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(math.exp((index + 0.5) * _LOG_STEP), self.max_ms)
        return self.max_ms

    def stats(self) -> LatencyStats:
        return LatencyStats(self.count, self.quantile(0.5), self.quantile(0.95), self.max_ms)


def _version(header: str | None, body: bytes) -> str:
    """The replica's version: the header, else a `version` field of a JSON body."""
    if header and header.strip():
        return header.strip()
    try:
        data = json.loads(body)
    except ValueError:
        return UNKNOWN
    if isinstance(data, dict) and isinstance(data.get("version"), str) and data["version"]:
        return str(data["version"])
    return UNKNOWN


def _check_range(name: str, value: float, high: float) -> None:
    if not 0 < value <= high:  # also rejects NaN
        raise BadInput(
            f"{name} must be above 0 and at most {high:g}, got {value!r}", hint=f"e.g. {name} 10"
        )


def check_duration(duration: float) -> None:
    """BadInput unless `duration` (seconds) is one a run takes: checked before anything."""
    _check_range("duration", duration, MAX_DURATION)


class TrafficGenerator:
    """Sends GETs to one URL at a fixed rate in background threads; thread-safe reports."""

    def __init__(
        self,
        url: str,
        rps: float,
        timeout: float = 2.0,
        workers: int = 8,
        *,
        on_tick: Callable[[TrafficReport], None] | None = None,
        keep_alive: bool = False,
    ) -> None:
        parts = urlsplit(url)
        try:
            port = parts.port or 80
        except ValueError as exc:
            raise BadInput(f"bad port in traffic URL {url!r}", hint="http://HOST:PORT/") from exc
        if parts.scheme != "http" or not parts.hostname:
            raise BadInput(
                f"traffic URL must be http://HOST[:PORT]/..., got {url!r}",
                hint="point it at the lab gateway, e.g. http://127.0.0.1:8080/",
            )
        _check_range("rps", rps, MAX_RPS)
        _check_range("timeout", timeout, MAX_TIMEOUT)
        _check_range("workers", workers, MAX_WORKERS)
        self.url, self.rps, self.timeout, self.workers = url, rps, timeout, workers
        self._host, self._port = parts.hostname, port
        self._path = parts.path or "/"
        if parts.query:
            self._path += "?" + parts.query
        self._on_tick = on_tick
        self.keep_alive = keep_alive
        self._jobs: queue.SimpleQueue[float | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0
        self._ended: float | None = None
        self._final: TrafficReport | None = None
        self._latency: dict[str, _Histogram] = {}
        self._failures: Counter[str] = Counter()
        self._seconds: dict[int, tuple[Counter[str], Counter[str]]] = {}  # (ok, failed)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the pacer, the workers and (with `on_tick`) a once-a-second ticker."""
        if self._threads:
            raise RuntimeError("a TrafficGenerator can only be started once")
        self._t0 = time.monotonic()
        self._threads = [threading.Thread(target=self._pace)]
        self._threads += [threading.Thread(target=self._work) for _ in range(self.workers)]
        if self._on_tick is not None:
            self._threads.append(threading.Thread(target=self._tick, args=(self._on_tick,)))
        for thread in self._threads:
            thread.name, thread.daemon = "agentlab-traffic", True
            thread.start()

    def stop(self, settle: bool = False) -> TrafficReport:
        """Stop sending, wait briefly for requests in flight (with `settle`, until each has
        its answer or its timeout, so that every request the server counted is counted
        here too), return the final report."""
        if self._final is not None:
            return self._final
        if not self._threads:
            return self.snapshot()
        with self._lock:
            self._ended = time.monotonic()
        self._stopping.set()
        for _ in range(self.workers):
            self._jobs.put(None)
        deadline = time.monotonic() + STOP_GRACE + (self.timeout if settle else 0.0)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._final = self.snapshot()
        return self._final

    def run(self, duration: float) -> TrafficReport:
        """Send traffic for `duration` seconds (at most MAX_DURATION), then report."""
        check_duration(duration)
        self.start()
        self._stopping.wait(duration)
        return self.stop()

    def snapshot(self) -> TrafficReport:
        """The report so far; safe to call from any thread while running."""
        if self._final is not None:
            return self._final
        with self._lock:
            now = self._ended if self._ended is not None else time.monotonic()
            elapsed = min(now - self._t0, MAX_DURATION) if self._threads else 0.0
            seconds = range(max(0, int(elapsed) - WINDOW + 1), int(elapsed) + 1)
            buckets = [self._seconds.get(s, (Counter(), Counter())) for s in seconds]
            versions = {name: hist.stats() for name, hist in self._latency.items()}
            ok = sum(stats.count for stats in versions.values())
            failed = sum(self._failures.values())
            return TrafficReport(
                url=self.url,
                offered_rps=self.rps,
                duration=elapsed,
                sent=ok + failed,
                ok=ok,
                failed=failed,
                versions=versions,
                failures=Counter(self._failures),
                ok_series={name: [oks[name] for oks, _ in buckets] for name in versions},
                failed_series=[sum(fails.values()) for _, fails in buckets],
            )

    def _pace(self) -> None:
        """Queue one job per interval at t0 + n/rps, catching up if late."""
        n = 0
        while True:
            due = self._t0 + n / self.rps
            if due - self._t0 >= MAX_DURATION:
                return
            delay = due - time.monotonic()
            if (delay > 0 and self._stopping.wait(delay)) or self._stopping.is_set():
                return
            self._jobs.put(due)
            n += 1

    def _work(self) -> None:
        # A closed HTTPConnection connects again on its next request.
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        while True:
            due = self._jobs.get()
            if due is None or self._stopping.is_set():
                break
            if time.monotonic() - due > self.timeout:
                self._record(False, "backlog", 0.0)
                continue
            ok, label = self._send(conn)
            self._record(ok, label, (time.monotonic() - due) * 1000)
        conn.close()

    def _tick(self, on_tick: Callable[[TrafficReport], None]) -> None:
        k = 1
        while k <= MAX_DURATION and not self._stopping.wait(
            max(0.0, self._t0 + k - time.monotonic())
        ):
            on_tick(self.snapshot())
            k += 1

    def _send(self, conn: http.client.HTTPConnection) -> tuple[bool, str]:
        """One GET on `conn`: (True, version) when ok, (False, reason) when failed."""
        headers = {} if self.keep_alive else {"Connection": "close"}
        try:
            conn.request("GET", self._path, headers=headers)
            response = conn.getresponse()
            body = response.read(_MAX_BODY)
        except TimeoutError:
            conn.close()
            return False, "timeout"
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            return False, type(exc).__name__
        if not (self.keep_alive and response.isclosed() and not response.will_close):
            conn.close()  # not reusable: closing, or a body longer than what was read
        if response.status >= 500:
            return False, str(response.status)
        return True, _version(response.getheader(VERSION_HEADER), body)

    def _record(self, ok: bool, label: str, latency_ms: float) -> None:
        """Count one result: `label` is a version when ok, a failure reason otherwise."""
        with self._lock:
            second = int(time.monotonic() - self._t0)
            if second not in self._seconds:
                for old in [s for s in self._seconds if s <= second - WINDOW]:
                    del self._seconds[old]
                self._seconds[second] = (Counter(), Counter())
            self._seconds[second][0 if ok else 1][label] += 1
            if ok:
                self._latency.setdefault(label, _Histogram()).add(latency_ms)
            else:
                self._failures[label] += 1
