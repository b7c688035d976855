"""agentlab's Lua meter in the proxy's image, reading `show table` dumps from a stand-in
runtime API (a Lua service that answers what the test wrote): a whole dump is summed per
backend and version, one cut short or from a full table is a 503 with one line, which
agentlab reads as MeterUnreadable (HAProxy's own CLI cannot be made to cut one short)."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentlab.traffic import meter_rules
from agentlab.traffic.haproxy_config import meter_source
from agentlab.traffic.metrics import MeterUnreadable, read
from tests.conftest import base_image_env

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("proxy_image")]
STAND_IN_PORT = 9998  # the stand-in runtime API, inside the container
STAND_IN = """
core.register_service("stand_in_runtime", "tcp", function(applet)
  applet:getline()  -- show table ...
  local file = io.open("/t/answer.txt", "rb")
  applet:send(file:read("*a"))
  file:close()
end)
"""
FULL = "its table is full (20000 entries): counts may be lost; a new traffic layer starts afresh"
HEADER = "# table: agentlab_meter, type: string, size:20000, used:3\n"


def entry(key: str, classes: dict[int, int], bucket: int, micros: int) -> str:
    """An entry as HAProxy 2.6 shows it: `count` answers of one class in one bucket."""
    gpc = {index: 0 for index in range(meter_rules.COUNTERS)}
    gpc.update(classes)
    gpc[meter_rules.FIRST_BUCKET + bucket] = sum(classes.values())
    counters = " ".join(f"gpc{index}={value}" for index, value in gpc.items())
    return f"0x5556eec5ca98: key={key} use=0 exp=0 gpt0={micros} gpt1=0 {counters}\n"


ENTRIES = (
    entry("agentlab_web_8000/1.0.0/0", {1: 3}, 0, 1500)  # 3 2xx under 1 ms, 1.5 ms in all
    + entry("agentlab_web_8000/1.0.0/1", {1: 2, 4: 1}, 2, 9000)  # 3 more at 2.5-5 ms
    + entry("agentlab_web_8000/1.1.0-rc1/0", {3: 4}, 1, 6000)
)


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The proxy's image running agentlab's meter on a stand-in runtime API: the file to
    write its answer in, and the meter's URL."""
    config = [
        "global",
        *meter_rules.environment(STAND_IN_PORT),
        "    lua-load /t/meter.lua",
        "    lua-load /t/stand_in.lua",
        "defaults",
        "    timeout connect 2s",
        "    timeout client 10s",
        "    timeout server 10s",
        "listen stand_in_runtime",
        "    mode tcp",
        f"    bind 127.0.0.1:{STAND_IN_PORT}",
        "    tcp-request content use-service lua.stand_in_runtime",
        "frontend agentlab_metrics",
        "    mode http",
        "    bind :9101",
        "    http-request use-service lua.agentlab_metrics if { path /metrics/versions }",
    ]
    (tmp_path / "haproxy.cfg").write_text("\n".join(config) + "\n")
    (tmp_path / "meter.lua").write_text(meter_source())
    (tmp_path / "stand_in.lua").write_text(STAND_IN)
    answer = tmp_path / "answer.txt"
    answer.write_text(HEADER + ENTRIES + "\n")
    name = f"agentlab-test-meter-{uuid.uuid4().hex[:8]}"
    image = base_image_env().get("AGENTLAB_PROXY_IMAGE") or "haproxy:2.6"
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "--pull", "never",
         "--user", f"{os.getuid()}:{os.getgid()}", "-v", f"{tmp_path}:/t:ro",
         "-p", "127.0.0.1::9101", image, "haproxy", "-db", "-f", "/t/haproxy.cfg"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        ports = ["docker", "port", name, "9101/tcp"]
        port = subprocess.run(ports, check=True, capture_output=True, text=True).stdout
        port = port.strip().rsplit(":", 1)[-1]
        url = f"http://127.0.0.1:{port}/metrics/versions"
        deadline = time.monotonic() + 60
        while True:  # HAProxy starting (a busy machine): bounded
            try:
                read(url)
                break
            except MeterUnreadable:
                if time.monotonic() > deadline:
                    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
                    pytest.fail(f"the meter never answered: {logs.stderr[-2000:]}")
                time.sleep(0.2)
        yield answer, url
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def answer_of(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_whole_dump_is_summed_per_backend_and_version(meter: tuple[Path, str]) -> None:
    _, url = meter
    figures = read(url)["agentlab_web_8000"]
    stable, canary = figures["1.0.0"], figures["1.1.0-rc1"]
    assert stable.codes == {"2xx": 5, "5xx": 1} and stable.count == 6
    assert [stable.buckets[bound] for bound in (0.001, 0.0025, 0.005, 10)] == [3, 3, 6, 6]
    assert stable.total_seconds == pytest.approx(0.0105)
    assert canary.codes == {"4xx": 4, "5xx": 0} and canary.buckets[0.0025] == 4


@pytest.mark.parametrize(
    ("dump", "why"),
    [
        (HEADER + ENTRIES, "the dump was cut short (no empty line at its end)"),
        (HEADER + ENTRIES[:-40], "the dump was cut short (no empty line at its end)"),
        (HEADER, "the dump was cut short (no empty line at its end)"),
        ("", "the dump was cut short (no empty line at its end)"),
        (HEADER.replace("used:3", "used:20000") + ENTRIES + "\n", FULL),
    ],
    ids=["no-end", "mid-line", "header-only", "nothing", "full"],
)
def test_a_dump_cut_short_or_from_a_full_table_is_a_503_with_one_line(
    meter: tuple[Path, str], dump: str, why: str
) -> None:
    answer, url = meter
    answer.write_text(dump)
    status, body = answer_of(url)
    line = f"agentlab's meter cannot count: {why} (show table agentlab_meter)\n"
    assert (status, body) == (503, line)
    with pytest.raises(MeterUnreadable) as raised:
        read(url)
    assert raised.value.message == f"the traffic layer's meter answered 503: {line.strip()}"
    answer.write_text(HEADER + ENTRIES + "\n")
    assert read(url)["agentlab_web_8000"]["1.0.0"].count == 6  # whole again: read again
