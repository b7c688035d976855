"""The traffic layer's meter on the real engine (webapp behind the proxy): HAProxy's own
rules count each answer in its status class, its latency bucket and the latency sum, per
version (one table entry per backend, version and thread, whichever replica answered); the
answers HAProxy made itself count as version `none`."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

import pytest

from agentlab.traffic import meter_rules
from agentlab.traffic.haproxy import HAProxyRouter
from agentlab.traffic.metrics import Figures, read, since
from tests.conftest import LabRun

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("webapp_images", "proxy_image")]
BACKEND = "agentlab_web_8000"


def get(url: str) -> tuple[int, float]:
    """The status of one GET and the seconds the client waited for it."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            answer.read()
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.perf_counter() - started


def counted(metrics: str, before: Figures, served: int, made: int) -> Figures:
    """The meter's reading once it holds `served` answers from 1.0.0 and `made` of HAProxy's
    own (HAProxy counts an answer as its stream ends, which can be just after the client
    has it), or the last reading after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        after = read(metrics)
        got = since(after.get(BACKEND, {}), before.get(BACKEND, {}))
        own = since(after.get(f"{BACKEND}_canary", {}), before.get(f"{BACKEND}_canary", {}))
        seen = got["1.0.0"].count if "1.0.0" in got else 0
        made_seen = sum(own["none"].codes.values()) if "none" in own else 0
        if (seen >= served and made_seen >= made) or time.monotonic() > deadline:
            return after
        time.sleep(0.1)


def test_the_meter_counts_classes_buckets_and_the_sum_per_version(layered: LabRun) -> None:
    proxy = layered.published("agentlab-proxy", 10000)
    preview = layered.published("agentlab-proxy", 11000)  # no canary: HAProxy's 503
    metrics = f"http://127.0.0.1:{layered.published('agentlab-proxy', 9101)}/metrics/versions"
    before = read(metrics)
    answers = [get(f"http://127.0.0.1:{proxy}/version") for _ in range(30)]
    answers += [get(f"http://127.0.0.1:{proxy}/nowhere") for _ in range(10)]
    made = [get(f"http://127.0.0.1:{preview}/")[0] for _ in range(3)]
    after = counted(metrics, before, served=40, made=3)
    assert sorted({status for status, _ in answers}) == [200, 404] and made == [503] * 3

    served = since(after[BACKEND], before.get(BACKEND, {}))["1.0.0"]
    assert served.codes == {"2xx": 30, "4xx": 10, "5xx": 0}
    assert served.count == 40
    bounds = sorted(served.buckets)
    counts = [served.buckets[bound] for bound in bounds]
    assert counts == sorted(counts) and counts[-1] == 40  # cumulative; none above 10 s
    low = high = 0.0  # the sum lies between the bounds of the buckets the answers fell in
    steps = zip([0.0, *bounds[:-1]], bounds, [0, *counts[:-1]], counts, strict=True)
    for lower, upper, below, upto in steps:
        low, high = low + (upto - below) * lower, high + (upto - below) * upper
    assert low <= served.total_seconds <= high
    assert 0 < served.total_seconds <= sum(seconds for _, seconds in answers)  # the clients'
    canary = since(after[f"{BACKEND}_canary"], before.get(f"{BACKEND}_canary", {}))
    assert canary["none"].codes == {"5xx": 3}
    runtime = HAProxyRouter("127.0.0.1", layered.published("agentlab-proxy", 9999))
    dump = runtime.command("show table agentlab_meter")
    threads = meter_rules.threads(os.cpu_count() or 1)
    assert f"size:{2 * meter_rules.VERSIONS * threads}," in dump.splitlines()[0]
    keys = {line.split(" key=")[1].split(" ")[0] for line in dump.splitlines()[1:] if line}
    assert keys and keys <= {f"{BACKEND}/1.0.0/{thread}" for thread in range(threads)}
