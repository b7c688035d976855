"""agentlab's optional Prometheus on the real engine, on copies of the webapp project and
of the demo lab with `prometheus:` in their agentlab.yaml: it scrapes the traffic layer
and loads the shipped rules; a 10 % canary of the 5 %-errors version (web 1.3.0, agent
1.6.0) is aborted by a PromQL gate evaluated through Prometheus' HTTP API, every request
goes back to stable; a good canary passes a PromQL gate and a router gate side by side;
`down` removes Prometheus with the rest."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentlab.traffic.load import TrafficGenerator
from agentlab.traffic.prometheus_api import PrometheusAPI
from tests.conftest import DEMO, REPO, WEBAPP, LabRun, base_image_env, lab_run
from tests.integration.test_canary import (
    Background,
    entry,
    figures,
    requests_of,
    routes,
)

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("webapp_images", "proxy_image")]
OFFLINE = "agentlab/prometheus:offline"
SETTLE = 60.0  # s: at most this long for Prometheus to scrape what a test needs
# The canary's 5xx share over the last 20 s, through Prometheus (a range of several
# scrapes: rate() needs two samples at least).
RATIO = (
    'promql: sum(rate(agentlab_requests_total{service="$service",version="$canary",code="5xx"}'
    '[20s])) / sum(rate(agentlab_requests_total{service="$service",version="$canary"}[20s]))'
    " < 1%"
)
RPS = 50  # 5 canary requests a second at 10 %
ANALYSIS = ["--analysis-interval", "2s", "--min-requests", "5"]
# Failures of the load generator itself on a busy machine (it could not send on time, or
# the answer came after its timeout): not what the lab answered. tests/integration/
# test_canary.py holds the traffic layer to 0 failed requests.
CLIENT_SIDE = {"backlog", "timeout"}


def present(image: str) -> bool:
    found = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
    return found.returncode == 0


@pytest.fixture(scope="session")
def prometheus_image() -> str:
    """$AGENTLAB_PROMETHEUS_IMAGE, else the offline build (made by scripts/lib.sh when
    missing: ~100 s once)."""
    image = base_image_env().get("AGENTLAB_PROMETHEUS_IMAGE") or OFFLINE
    if not present(image):
        done = subprocess.run(
            ["bash", str(REPO / "scripts" / "lib.sh"), "ensure_prometheus_image"],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert done.returncode == 0 and present(OFFLINE), done.stderr
        image = OFFLINE
    return image


def watched_copy(project: Path, directory: Path, image: str, up: list[str]) -> Iterator[LabRun]:
    """A copy of `project`'s directory with `prometheus:` on in its agentlab.yaml, up."""
    copy = directory / project.name
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".agentlab", "__pycache__"))
    settings = copy / "agentlab.yaml"
    written = settings.read_text(encoding="utf-8") if settings.exists() else ""
    settings.write_text(written + "prometheus: {scrape_interval: 1s}\n", encoding="utf-8")
    env = {
        "WEBAPP_CACHE_PORT": "0",
        "AGENTLAB_PROXY_IMAGE": base_image_env().get("AGENTLAB_PROXY_IMAGE", "haproxy:2.6"),
        "AGENTLAB_PROMETHEUS_IMAGE": image,
    }
    for lab in lab_run(copy / "compose.yaml", "t-prom", env):
        done = lab("up", *up)
        assert done.code == 0, done.err
        assert re.search(r"prometheus: http://127\.0\.0\.1:\d+ \(scrapes", done.err), done.err
        yield lab


@pytest.fixture
def watched(tmp_path: Path, prometheus_image: str) -> Iterator[LabRun]:
    """webapp at 1.0.0, web behind the traffic layer, Prometheus on."""
    up = ["--version", "1.0.0", "--traffic-layer", "web"]
    yield from watched_copy(WEBAPP.parent, tmp_path, prometheus_image, up)


@pytest.fixture
def watched_demo(tmp_path: Path, prometheus_image: str) -> Iterator[LabRun]:
    """The demo lab at 1.3.0, agent behind the traffic layer, Prometheus on."""
    up = ["--version", "1.3.0", "--traffic-layer", "agent:8000"]
    yield from watched_copy(DEMO.parent, tmp_path, prometheus_image, up)


def prometheus(lab: LabRun) -> PrometheusAPI:
    return PrometheusAPI(f"http://127.0.0.1:{published_port(lab)}")


def published_port(lab: LabRun) -> int:
    out = lab.docker("compose", "-p", lab.project, "port", "agentlab-prometheus", "9090")
    return int(out.strip().rsplit(":", 1)[1])


def settled(api: PrometheusAPI, query: str) -> float:
    """The query's value once it has one (Prometheus scrapes every second), bounded."""
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        value = api.query(query)
        if value is not None:
            return value
        time.sleep(0.5)
    raise AssertionError(f"Prometheus has no value for {query} after {SETTLE:g}s")


def promql_abort(lab: LabRun, service: str, bad: str, stable: str) -> None:
    """A 10 % canary of `bad` (5 % errors) is aborted by the PromQL gate: exit 1, the line
    names the query, its value and the threshold; every request back on `stable`."""
    api, backend = prometheus(lab), f"agentlab_{service}_8000"
    with urllib.request.urlopen(f"{api.url}/api/v1/rules", timeout=10) as answer:
        groups = json.load(answer)["data"]["groups"]
    rules = {rule["name"] for group in groups for rule in group["rules"]}
    assert rules == {"AgentlabHighErrorRatio", "AgentlabHighLatencyP99"}
    with TrafficGenerator(entry(lab), RPS) as load:
        # the traffic layer is scraped: the stable version's requests are in Prometheus
        assert settled(api, f'sum(agentlab_requests_total{{service="{service}",'
                            f'version="{stable}"}})') > 0  # fmt: skip
        canary = Background(lab, "rollout", service, "--to", bad, "--strategy", "canary",
                            "--steps", "10,100", "--gate", RATIO, *ANALYSIS,
                            "--analysis-count", "15", "--json")  # fmt: skip
        canary.until("weight_set", percent=10)
        canary.until("rollback_started")
        code, err = canary.finish()
        assert code == 1, err
        line = err.strip().splitlines()[-1]
        assert re.search(r"gate failed: promql sum\(rate\(agentlab_requests_total\{.*\}\[20s\]\)\)"
                         r" = [0-9.]+% \(limit < 1%, \d+ requests\): fail", line), line  # fmt: skip
        assert f"; back on {stable}" in line, line  # the abort itself went through
        value = float(re.findall(r" = ([0-9.]+)% \(limit", line)[0])
        assert value >= 1  # what failed it is over the threshold
        checks = [e for e in canary.events if e["event"] == "gate_checked"]
        assert checks[-1]["verdict"] == "fail" and checks[-1]["gate"] == RATIO
        after_abort = figures(lab, backend)
        time.sleep(1.0)
        assert bad not in requests_of(figures(lab, backend), after_abort)  # 0 to the bad one
        left = routes(lab, backend)
        assert {v for v, _, _ in left} == {stable}, left
        report = load.stop()
    assert set(report.failures) - CLIENT_SIDE <= {"500"}, report.lines()  # the canary's 500s
    canary_seen = f'sum(agentlab_requests_total{{service="{service}",version="{bad}"}})'
    assert settled(api, canary_seen) > 0  # Prometheus saw the canary's requests


def test_a_promql_gate_aborts_a_canary_with_5_percent_errors(watched: LabRun) -> None:
    promql_abort(watched, "web", "1.3.0", "1.0.0")


@pytest.mark.usefixtures("demo_images")
def test_a_promql_gate_aborts_the_demo_labs_errors_version(watched_demo: LabRun) -> None:
    promql_abort(watched_demo, "agent", "1.6.0", "1.3.0")


def test_a_good_canary_passes_a_promql_gate_and_a_router_gate(watched: LabRun) -> None:
    with TrafficGenerator(entry(watched), RPS) as load:
        time.sleep(0.5)
        done = watched("rollout", "web", "--to", "1.1.0", "--strategy", "canary",
                       "--steps", "10,50,100", "--gate", RATIO, "--gate", "error_rate < 1%",
                       *ANALYSIS, "--analysis-count", "3", "--json")  # fmt: skip
        assert done.code == 0, done.err
        report = load.stop()
    assert set(report.failures) <= CLIENT_SIDE, report.lines()  # no answer was an error
    assert routes(watched) == [("1.1.0", "ready", 1)] * 3
    out = done.out.splitlines()
    checks = [line for line in out if '"gate_checked"' in line]
    assert any('"promql:' in line and '"pass"' in line for line in checks), checks
    assert any('"error_rate < 1%"' in line and '"pass"' in line for line in checks), checks
    assert not any('"fail"' in line for line in checks), checks
    alerts = watched("alerts", "--json")
    assert alerts.code == 0 and alerts.json()["prometheus"].startswith("http://127.0.0.1:")
    down = watched("down")
    assert down.code == 0, down.err
    assert watched.containers() == []  # Prometheus went with the project
