"""The meter's bounds and its failed readings: the table sized for the proxy's threads,
and a reading the meter could not make whole as MeterUnreadable, never partial figures."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from agentlab.traffic import meter_rules
from agentlab.traffic.haproxy_config import Frontend, render
from agentlab.traffic.metrics import PROXY_MADE, MeterUnreadable, VersionFigures, between, read

CUT_SHORT = "agentlab's meter cannot count: the dump was cut short (show table agentlab_meter)\n"
WHOLE = 'agentlab_requests_total{backend="b",version="1.0",code="2xx"} 7\n'


class Meter(BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, str]]] = []

    def do_GET(self) -> None:
        status, body = self.answers.pop(0)
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def meter() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Meter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics/versions"
    server.shutdown()
    server.server_close()


def test_a_503_from_the_meter_is_unreadable_with_its_line_and_a_whole_answer_reads(
    meter: str,
) -> None:
    Meter.answers = [(503, CUT_SHORT), (200, WHOLE)]
    with pytest.raises(MeterUnreadable) as raised:
        read(meter)
    assert raised.value.message == (
        "the traffic layer's meter answered 503: agentlab's meter cannot count: the dump was"
        " cut short (show table agentlab_meter)"
    )
    assert "\n" not in raised.value.one_line() and raised.value.exit_code == 1
    assert read(meter)["b"]["1.0"].codes == {"2xx": 7}


def test_no_meter_is_unreadable_too() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(MeterUnreadable, match="the traffic layer's meter did not answer"):
        read(f"http://127.0.0.1:{port}/metrics/versions", timeout=2)


def test_the_traffic_between_readings_is_unknown_when_one_failed_or_counters_went_back() -> None:
    before = {"1.0": VersionFigures({"2xx": 5}, {0.01: 5}, 5, 0.02)}
    now = {"1.0": VersionFigures({"2xx": 8}, {0.01: 8}, 8, 0.03)}
    window = between(now, before)
    assert not isinstance(window, MeterUnreadable) and window["1.0"].codes == {"2xx": 3}
    failed = MeterUnreadable("the traffic layer's meter answered 503: cut short", "again")
    assert between(failed, before) is failed
    after_failure = between(now, failed)
    assert isinstance(after_failure, MeterUnreadable)
    assert after_failure.message.startswith("no whole reading to count from: the traffic")
    went_back = between(before, now)
    assert isinstance(went_back, MeterUnreadable) and "went back" in went_back.message


def test_the_proxy_s_own_answers_going_down_between_readings_count_as_none_not_a_reset() -> None:
    """`none` is two reads a moment apart (the backend's counts less its servers'): an answer
    that ended in between shows there once, then goes; the servers' versions still count."""
    before = {"1.0": VersionFigures({"2xx": 5}), PROXY_MADE: VersionFigures({"2xx": 2, "5xx": 1})}
    now = {"1.0": VersionFigures({"2xx": 9}), PROXY_MADE: VersionFigures({"2xx": 0, "5xx": 3})}
    window = between(now, before)
    assert not isinstance(window, MeterUnreadable), window
    assert window["1.0"].codes == {"2xx": 4}
    assert window[PROXY_MADE].codes == {"2xx": 0, "5xx": 2}
    reset = between({**now, "1.0": VersionFigures({"2xx": 1})}, before)
    assert isinstance(reset, MeterUnreadable) and "went back" in reset.message


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 2), (4, 4), (64, 4)])
def test_the_proxy_s_threads_follow_the_cores_up_to_a_cap_and_size_the_table(
    cores: int, threads: int
) -> None:
    text = render([Frontend("web", 8000, 10000), Frontend("api", 9000, 10001)], cores)
    assert f"global\n    nbthread {threads}\n" in text
    size = 4 * meter_rules.VERSIONS * threads  # 2 backends per port, each thread its entries
    assert f"stick-table type string len 256 size {size} store" in text
    assert "expire" not in text  # counters only grow: an expiry would drop an idle version's
