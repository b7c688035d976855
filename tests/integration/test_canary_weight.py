"""A canary's weight set by hand (`agentlab weight`) on the real engine, through the
traffic layer, on webapp (not the demo): from another process, the proxy's share moves
to the new weight and the canary holds there; the canary panel's per-version figures
come from the same proxy."""

from __future__ import annotations

import time

import pytest

from agentlab.lab.facade import Lab
from agentlab.project.location import load_project
from agentlab.traffic.load import TrafficGenerator
from agentlab.traffic.metrics import VersionFigures
from tests.conftest import LabRun, base_image_env
from tests.integration.test_canary import (  # noqa: F401 (fixtures)
    BACKEND,
    Background,
    figures,
    load,
    requests_of,
    routes,
)

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("webapp_images", "proxy_image")]
WINDOW = 400  # requests to count the share over (about 4 s at 100 req/s)
DEMO_BACKEND = "agentlab_agent_8000"
SETTLE = 60.0  # seconds the window may take at most (a bound, not a measurement)


def share_over(lab: LabRun, version: str) -> tuple[float, dict[str, int]]:
    """`version`'s % of the next WINDOW requests the proxy served, and the counts."""
    before = figures(lab)
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        time.sleep(0.2)
        counts = requests_of(figures(lab), before)
        if sum(counts.values()) >= WINDOW:
            return 100 * counts.get(version, 0) / sum(counts.values()), counts
    raise AssertionError(f"fewer than {WINDOW} requests in {SETTLE:g}s")


def test_weight_from_another_process_moves_the_split_and_the_canary_holds(
    layered: LabRun,
    load: TrafficGenerator,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canary = Background(layered, "rollout", "web", "--to", "1.1.0", "--strategy", "canary",
                        "--steps", "10,pause,50,100", "--json")  # fmt: skip
    canary.until("step_started", description="canary: pause until promoted")
    assert layered("weight", "web", "130").code == 2  # bad input: nothing changes
    assert layered("weight", "web", "30", "--json").json() == {
        "service": "web", "weight": 30, "taken": True,
    }  # fmt: skip
    canary.until("step_started", description="canary: set weight 30% by hand, held")
    canary.until("weight_set", percent=30)
    assert held_share(layered, BACKEND, "1.1.0") == 30, routes(layered)
    share, counts = share_over(layered, "1.1.0")
    assert abs(share - 30) <= 4, counts  # the proxy's split, not only its settings
    status = layered("status", "--json").json()
    [web] = [s for s in status["services"] if s["service"] == "web"]
    assert web["canary"]["step"] == "set weight 30% by hand, held"  # it holds
    assert web["canary"]["shares"] == {"1.0.0": 70, "1.1.0": 30}
    assert canary.process.poll() is None
    assert not [e for e in canary.events if e["event"] == "weight_set" and e["percent"] == 50]

    for variable in ("WEBAPP_CACHE_PORT", "AGENTLAB_PROXY_IMAGE", "AGENTLAB_GATEWAY_PORT"):
        monkeypatch.setenv(variable, layered.env[variable])
    lab = Lab(load_project([str(layered.compose_file)], layered.project))
    meter = lab.canary_meter("web")
    assert meter is not None and lab.canary_meter("nope-not-proxied") is None
    assert meter.sample("1.1.0", "1.0.0") is None
    before = figures(layered)
    deadline = time.monotonic() + SETTLE
    while sum(requests_of(figures(layered), before).values()) < WINDOW // 2:
        assert time.monotonic() < deadline, "no traffic through the proxy"
        time.sleep(0.2)
    traffic = meter.sample("1.1.0", "1.0.0")
    assert traffic is not None and traffic.stable is not None and traffic.canary is not None
    assert (traffic.stable.version, traffic.canary.version) == ("1.0.0", "1.1.0")
    assert traffic.canary.errors == traffic.stable.errors == 0
    assert traffic.canary.p99 is not None and traffic.stable.rps > traffic.canary.rps > 0

    assert layered("abort", "web").code == 0
    code, err = canary.finish()
    assert code == 1 and "aborted on request; back on 1.0.0" in err, err
    assert routes(layered) == [("1.0.0", "ready", 1)] * 3, (layered.containers(), err)
    load.stop()  # (its client-side failures depend on the machine's load: not asserted)
    assert figures(layered).get("1.1.0", VersionFigures()).errors == 0  # no 5xx from it


def held_share(lab: LabRun, backend: str, version: str) -> int:
    """`version`'s % of the weights of the ready servers behind `backend`."""
    weights: dict[str, int] = {}
    for each, state, weight in routes(lab, backend):
        weights[each] = weights.get(each, 0) + (weight if state == "ready" else 0)
    return round(100 * weights.get(version, 0) / max(1, sum(weights.values())))


@pytest.mark.usefixtures("demo_images")
def test_weight_on_the_demo_lab_moves_the_agents_canary_and_it_holds(demo_lab: LabRun) -> None:
    demo_lab.env["AGENTLAB_PROXY_IMAGE"] = base_image_env().get(
        "AGENTLAB_PROXY_IMAGE", "haproxy:2.6"
    )
    up = demo_lab("up", "--version", "1.2.0", "--traffic-layer", "agent:8000")
    assert up.code == 0, up.err
    canary = Background(demo_lab, "rollout", "agent", "--to", "1.3.0", "--strategy", "canary",
                        "--steps", "10,pause,100", "--json")  # fmt: skip
    canary.until("step_started", description="canary: pause until promoted")
    assert held_share(demo_lab, DEMO_BACKEND, "1.3.0") == 10
    weighed = demo_lab("weight", "agent", "60%")
    assert weighed.code == 0, weighed.err
    assert "it holds there now" in weighed.out
    canary.until("weight_set", percent=60)  # 2 canary replicas beside 3 stable
    assert held_share(demo_lab, DEMO_BACKEND, "1.3.0") == 60, routes(demo_lab, DEMO_BACKEND)
    [agent] = [s for s in demo_lab("status", "--json").json()["services"]
               if s["service"] == "agent"]  # fmt: skip
    assert agent["canary"]["step"] == "set weight 60% by hand, held"
    assert demo_lab("promote", "agent").code == 0
    code, err = canary.finish()
    assert code == 0, err
    assert {v for v, _, _ in routes(demo_lab, DEMO_BACKEND)} == {"1.3.0"}
