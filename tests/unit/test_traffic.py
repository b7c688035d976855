"""TrafficGenerator against a local stdlib HTTP server on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import math
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NotRequired, TypedDict

import pytest

from agentlab.common.errors import BadInput
from agentlab.traffic.load import LatencyStats, TrafficGenerator, TrafficReport, _Histogram


class LabServer(ThreadingHTTPServer):
    """Answers by path; `tally` records what it did to each request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.counter = itertools.count()
        self.tally: Counter[str] = Counter()
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (the timeout tests) is expected: no traceback on stderr."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server: LabServer

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def reply(self, status: int, body: bytes, version: str | None) -> None:
        self.send_response(status)
        if version:
            self.send_header("X-Agent-Version", version)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        with self.server.lock:
            i = next(self.server.counter)
            outcome = (
                "502" if i % 5 == 4 else "closed" if i % 7 == 6 else ("v1.2.0", "v1.3.0")[i % 2]
            )
            if self.path == "/mixed":
                self.server.tally[outcome] += 1
        if self.path == "/mixed" and outcome == "502":
            self.reply(502, b"bad gateway", None)
        elif self.path == "/mixed" and outcome == "closed":
            self.close_connection = True  # no response at all
        elif self.path == "/mixed":
            self.reply(200, json.dumps({"version": "ignored"}).encode(), outcome)
        elif self.path == "/body":
            self.reply(200, json.dumps({"version": "v9.0.0"}).encode(), None)
        elif self.path == "/plain":
            self.reply(200, b"hello", None)
        elif self.path.startswith("/slow"):
            time.sleep(float(self.path.split("=")[1]))
            self.reply(200, b"{}", "v1.0.0")
        else:
            self.reply(200, b"{}", "v1.0.0")


@pytest.fixture
def server() -> Iterator[LabServer]:
    srv = LabServer()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_counts_versions_and_failures_with_reasons(server: LabServer) -> None:
    report = TrafficGenerator(server.url("/mixed"), rps=60).run(1.0)
    tally = server.tally
    assert report.sent == report.ok + report.failed == sum(tally.values())
    assert report.versions["v1.2.0"].count == tally["v1.2.0"] > 0
    assert report.versions["v1.3.0"].count == tally["v1.3.0"] > 0
    assert report.failures["502"] == tally["502"] > 0
    closed = report.failures["RemoteDisconnected"] + report.failures["ConnectionResetError"]
    assert closed == tally["closed"] > 0
    assert set(report.versions) == {"v1.2.0", "v1.3.0"}
    stats = report.versions["v1.3.0"]
    assert 0 < stats.p50_ms <= stats.p95_ms <= stats.max_ms


def test_achieved_rate_is_close_to_offered(server: LabServer) -> None:
    report = TrafficGenerator(server.url("/"), rps=50).run(1.0)
    assert report.failed == 0
    assert 0.6 * 50 <= report.achieved_rps <= 1.4 * 50
    assert 0.9 <= report.duration < 2.0


def test_open_loop_slow_answers_do_not_lower_the_rate(server: LabServer) -> None:
    report = TrafficGenerator(server.url("/slow?s=0.2"), rps=20, workers=8).run(1.0)
    # A closed loop would manage about 5 requests per second here.
    assert report.ok >= 12
    assert report.versions["v1.0.0"].p50_ms >= 150


def test_version_from_body_or_unknown(server: LabServer) -> None:
    assert set(TrafficGenerator(server.url("/body"), rps=20).run(0.3).versions) == {"v9.0.0"}
    assert set(TrafficGenerator(server.url("/plain"), rps=20).run(0.3).versions) == {"unknown"}


def test_timeouts_are_failures(server: LabServer) -> None:
    report = TrafficGenerator(server.url("/slow?s=0.6"), rps=10, timeout=0.2).run(0.5)
    assert report.ok == 0
    assert report.failures["timeout"] == report.failed > 0


def test_refused_port_gives_failures_not_exceptions() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = TrafficGenerator(f"http://127.0.0.1:{port}/", rps=30).run(0.4)
    assert report.ok == 0
    assert report.failures["ConnectionRefusedError"] == report.failed > 0
    assert report.versions == {}


def test_stop_returns_promptly_while_requests_hang(server: LabServer) -> None:
    gen = TrafficGenerator(server.url("/slow?s=2.5"), rps=20, timeout=2.0)
    gen.start()
    time.sleep(0.3)
    began = time.monotonic()
    report = gen.stop()
    assert time.monotonic() - began < 1.5
    assert report.ok == 0
    assert gen.stop() is report  # idempotent


def test_stop_settling_counts_the_requests_in_flight(server: LabServer) -> None:
    """What the server answers after the stop is counted when asked to settle (a proxy's
    counts then agree with the generator's)."""
    gen = TrafficGenerator(server.url("/slow?s=1"), rps=20, timeout=5.0)
    gen.start()
    time.sleep(0.3)
    report = gen.stop(settle=True)
    assert report.ok >= 1 and report.failed == 0


def test_snapshot_series_and_context_manager(server: LabServer) -> None:
    ticks: list[TrafficReport] = []
    with TrafficGenerator(server.url("/"), rps=40, on_tick=ticks.append) as gen:
        time.sleep(1.3)
        live = gen.snapshot()
    final = gen.stop()
    assert live.ok > 0 and final.ok >= live.ok
    assert len(ticks) >= 1 and ticks[0].ok > 0
    assert sum(final.series("v1.0.0")) == final.ok
    assert len(final.series("v1.0.0")) == len(final.failed_series) >= 2
    assert sum(final.failed_series) == 0
    assert final.series("v0.0.0") == [0] * len(final.failed_series)
    assert gen.snapshot() is final


def test_report_before_start_is_empty() -> None:
    gen = TrafficGenerator("http://127.0.0.1:9/", rps=1)
    report = gen.stop()
    assert (report.sent, report.achieved_rps, report.failure_ratio) == (0, 0.0, 0.0)


class GeneratorArgs(TypedDict):
    """TrafficGenerator's arguments that test_bad_input varies (the URL has a default)."""

    rps: float
    url: NotRequired[str]
    timeout: NotRequired[float]
    workers: NotRequired[int]


BAD_INPUTS: list[GeneratorArgs] = [
    {"rps": 0},
    {"rps": -5},
    {"rps": 1001},
    {"rps": math.nan},
    {"rps": 10, "timeout": 0},
    {"rps": 10, "workers": 0},
    {"rps": 10, "url": "https://127.0.0.1/"},
    {"rps": 10, "url": "127.0.0.1:8080"},
    {"rps": 10, "url": "http://"},
    {"rps": 10, "url": "http://127.0.0.1:port/"},
]


@pytest.mark.parametrize("kwargs", BAD_INPUTS)
def test_bad_input(kwargs: GeneratorArgs) -> None:
    args: GeneratorArgs = {"url": "http://127.0.0.1:8080/", **kwargs}
    with pytest.raises(BadInput):
        TrafficGenerator(**args)


@pytest.mark.parametrize("duration", [0, -1, 3601, math.inf])
def test_bad_duration(duration: float) -> None:
    gen = TrafficGenerator("http://127.0.0.1:8080/", rps=10)
    with pytest.raises(BadInput):
        gen.run(duration)


def test_lines_and_json() -> None:
    report = TrafficReport(
        url="http://127.0.0.1:8080/",
        offered_rps=50,
        duration=20.0,
        sent=1000,
        ok=1000,
        versions={
            "v1.3.0": LatencyStats(742, 3.14, 7.9, 12.0),
            "v1.2.0": LatencyStats(258, 2.0, 4.0, 5.0),
        },
    )
    assert report.lines() == [
        "v1.2.0   ok 258  p50 2.0 ms  p95 4.0 ms",
        "v1.3.0   ok 742  p50 3.1 ms  p95 7.9 ms",
        "total    sent 1000  ok 1000  failed 0 (0.0%)  50.0 req/s over 20.0 s",
    ]
    report.failed, report.failures = 4, Counter({"502": 3, "timeout": 1})
    assert "failed 4 (0.4%)  502 x3, timeout x1" in report.lines()[-1]
    data = json.loads(json.dumps(report.to_json()))
    assert data["versions"]["v1.3.0"] == {"ok": 742, "p50_ms": 3.14, "p95_ms": 7.9, "max_ms": 12.0}
    assert data["failures"] == {"502": 3, "timeout": 1}
    assert data["achieved_rps"] == 50.0


def test_histogram_percentiles_within_one_percent() -> None:
    hist = _Histogram()
    for ms in range(1, 101):
        hist.add(float(ms))
    stats = hist.stats()
    assert stats.count == 100 and stats.max_ms == 100.0
    assert stats.p50_ms == pytest.approx(50, rel=0.01)
    assert stats.p95_ms == pytest.approx(95, rel=0.01)


def test_requests_the_client_never_sent_are_not_lost_by_the_service() -> None:
    """A busy machine makes the client fall behind: those requests fail as backlog, and a
    test that the service lost none (or that the proxy counted its failures) reads them
    apart."""
    report = TrafficReport(url="http://127.0.0.1:8080/", offered_rps=100, duration=20.0,
                           sent=1958, ok=1769, failed=189,
                           failures=Counter({"backlog": 188, "500": 1}))  # fmt: skip
    assert report.lost == 1
