"""agentlab's traffic layer (HAProxy, driven at runtime) in front of a service that
publishes a fixed host port: the flask-shaped project rolls with a surge and loses no
request from host clients, with and without keep-alive; the proxy's per-version counts
agree with the clients'; killing agentlab mid-drain leaves nothing stuck."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from agentlab.common.errors import AgentlabError
from agentlab.traffic.haproxy import HAProxyRouter
from agentlab.traffic.load import TrafficGenerator
from agentlab.traffic.metrics import read, since
from tests.conftest import REPO, LabRun, base_image_env, kill_while_out_of_the_name, lab_run
from tests.integration.test_own_projects import free_port

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("proxy_image")]
FLASK = REPO / "tests" / "projects" / "flask" / "compose.yaml"
BACKEND = "agentlab_web_8000"


@pytest.fixture
def flask_lab() -> Iterator[LabRun]:
    found = base_image_env()
    base = found["AGENTLAB_BASE_IMAGE"]
    env = {"AGENTLAB_BASE_IMAGE": base, "BASE_IMAGE": base, "WEB_PORT": str(free_port())}
    env["AGENTLAB_PROXY_IMAGE"] = found.get("AGENTLAB_PROXY_IMAGE", "haproxy:2.6")
    yield from lab_run(FLASK, "t-layer", env)


def entry(lab: LabRun, port: int) -> str:
    return f"http://127.0.0.1:{lab.published('agentlab-proxy', port)}"


def router(lab: LabRun) -> HAProxyRouter:
    return HAProxyRouter("127.0.0.1", lab.published("agentlab-proxy", 9999))


def test_a_fixed_port_service_surges_through_the_proxy_and_loses_nothing(
    flask_lab: LabRun,
) -> None:
    up = flask_lab("up", "--version", "1.0.0", "--traffic-layer", "web")
    assert up.code == 0, up.err
    url = f"http://127.0.0.1:{flask_lab.env['WEB_PORT']}/version"  # the service's own port
    metrics = f"{entry(flask_lab, 9101)}/metrics/versions"
    before = read(metrics).get(BACKEND, {})
    # a request is lost when it errs or gets no answer; one that waits out a busy
    # machine (a new replica's Python start-up beside the test suite) is slow, not lost
    closing = TrafficGenerator(url, 50, timeout=10.0, workers=16)
    keeping = TrafficGenerator(url, 50, timeout=10.0, workers=16, keep_alive=True)
    with closing, keeping:
        time.sleep(1)
        rolled = flask_lab("rollout", "web", "--to", "1.1.0")
        time.sleep(0.5)
        reports = [closing.stop(settle=True), keeping.stop(settle=True)]
    assert rolled.code == 0, rolled.err
    assert "max surge 1, max unavailable 0" in rolled.out and "stop-first" not in rolled.out
    for report in reports:
        assert report.lost == 0, report.lines()
        assert {"1.0.0", "1.1.0"} <= set(report.versions)
    proxied = since(read(metrics).get(BACKEND, {}), before)
    clients = Counter[str]()
    for report in reports:
        clients.update({version: stats.count for version, stats in report.versions.items()})
    assert {v: f.requests for v, f in proxied.items() if f.requests} == dict(clients)
    assert all(f.errors == 0 for f in proxied.values())
    routes = router(flask_lab).routes(BACKEND)
    assert [(r.server.endswith("--1.1.0"), r.state) for r in routes] == [(True, "ready")]
    pools = router(flask_lab).command(f"show servers conn {BACKEND}").splitlines()
    header, row = pools[0].lstrip("# ").split(), pools[1].split()
    pool = dict(zip(header, row, strict=False))  # idle_per_thr[n]: one column per thread
    assert (pool["purge_delay"], pool["idle_lim"]) == ("5000", "-1"), pools  # as if static


def test_killed_mid_drain_then_undone_leaves_the_proxy_in_line(flask_lab: LabRun) -> None:
    assert flask_lab("up", "--version", "1.0.0", "--traffic-layer", "web").code == 0
    kill_while_out_of_the_name(flask_lab, "web", "1.1.0")
    states = sorted(
        (r.server.rsplit("--", 1)[1], r.state) for r in router(flask_lab).routes(BACKEND)
    )
    assert states == [("1.0.0", "drain"), ("1.1.0", "ready")]  # what kill -9 left
    undone = flask_lab("rollout", "undo", "web")
    assert undone.code == 0, undone.err
    routes = router(flask_lab).routes(BACKEND)
    replicas = [n for n in flask_lab.containers() if "-web-" in n]
    assert [(r.replica, r.state) for r in routes] == [(replicas[0], "ready")]
    assert routes[0].server.endswith("--1.0.0")


@pytest.mark.usefixtures("demo_images")
def test_the_demo_lab_puts_its_agents_behind_the_proxy_on_request(demo_lab: LabRun) -> None:
    """A service that publishes no port gets an entry point through the proxy; `traffic`
    and `rollout --traffic` read per-version figures from it."""
    demo_lab.env["AGENTLAB_PROXY_IMAGE"] = base_image_env().get(
        "AGENTLAB_PROXY_IMAGE", "haproxy:2.6"
    )
    up = demo_lab("up", "--version", "1.2.0", "--traffic-layer", "agent:8000")
    assert up.code == 0, up.err
    rolled = demo_lab("rollout", "agent", "--to", "1.3.0", "--traffic", "40", "--json")
    assert rolled.code == 0, rolled.err
    traffic = next(e for e in map(json.loads, rolled.out.splitlines()) if e["event"] == "traffic")
    assert traffic["failed"] == 0
    clients = {version: figures["ok"] for version, figures in traffic["versions"].items()}
    proxied = {version: figures["requests"] for version, figures in traffic["proxy"].items()}
    assert proxied == clients and set(clients) == {"1.2.0", "1.3.0"}


def test_a_restarted_proxy_routing_to_no_replica_is_drift_until_up(flask_lab: LabRun) -> None:
    """The proxy starts with no server (agentlab adds them at runtime): once restarted,
    every request got a 503 while status and drift said all was well."""
    assert flask_lab("up", "--version", "1.0.0", "--traffic-layer", "web").code == 0
    assert flask_lab("drift").code == 0
    flask_lab.docker("restart", "-t", "1", f"{flask_lab.project}-agentlab-proxy-1")
    deadline = time.monotonic() + 60
    while True:  # until the new proxy process answers on its runtime API
        try:
            assert router(flask_lab).routes(BACKEND) == []  # it came back with no server
            break
        except AgentlabError:  # not listening yet (EngineUnavailable), or not ready
            assert time.monotonic() < deadline, "the restarted proxy never answered"
            time.sleep(0.1)
    [web] = [n for n in flask_lab.containers() if "-web-" in n]
    drift = flask_lab("drift")
    assert drift.code == 1, drift.out + drift.err
    assert f"web: {web} is ready but the traffic layer does not route to it" in drift.out
    assert "does not route to it" in flask_lab("status").out
    assert flask_lab("up").code == 0
    assert [(r.replica, r.state) for r in router(flask_lab).routes(BACKEND)] == [(web, "ready")]
    assert flask_lab("drift").code == 0


def test_moving_a_running_service_behind_the_proxy_says_its_port_goes_quiet(
    flask_lab: LabRun,
) -> None:
    """The dry run said it moved; `up` itself said nothing while Compose recreated the
    replicas without their port (seconds of refused requests): both say so first."""
    assert flask_lab("up", "--version", "1.0.0").code == 0
    said = "web: moving behind the traffic layer: its host port goes to the proxy"
    planned = flask_lab("up", "--traffic-layer", "web", "--dry-run")
    assert planned.code == 0, planned.err
    assert any(line.startswith(said) for line in planned.out.splitlines()), planned.out
    moved = flask_lab("up", "--traffic-layer", "web")
    assert moved.code == 0, moved.err
    lines = moved.err.splitlines()  # progress; the status table is on stdout
    first = [i for i, line in enumerate(lines) if line.startswith((said, "starting "))]
    assert [lines[i][:8] for i in first] == [said[:8], "starting"], moved.err  # said first
    url = f"http://127.0.0.1:{flask_lab.env['WEB_PORT']}/version"  # now the proxy's
    with TrafficGenerator(url, 20, timeout=10.0) as load:
        time.sleep(1)
        report = load.stop(settle=True)
    assert report.failed == 0 and report.sent > 0
    again = flask_lab("up", "--traffic-layer", "web", "--dry-run")  # behind it: no move
    assert not any(line.startswith(said) for line in again.out.splitlines()), again.out
