"""The foundation on the real engine: up at a version, status, labels, bad input, down."""

from __future__ import annotations

import json
import urllib.request

import pytest

from agentlab.engine.api import ApiTransport
from agentlab.engine.cli import CliTransport
from agentlab.engine.compose import ComposeEngine
from agentlab.engine.model import Replica
from tests.conftest import DEMO, LabRun

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("demo_images")]


def gateway_url(lab: LabRun) -> str:
    port = (
        lab.docker(
            "compose", "-p", lab.project, "-f", str(lab.compose_file), "port", "gateway", "8080"
        )
        .strip()
        .rsplit(":", 1)[1]
    )
    return f"http://127.0.0.1:{port}/"


def versions_through_gateway(lab: LabRun, requests: int = 12) -> set[str]:
    url = gateway_url(lab)
    seen = set()
    for _ in range(requests):
        with urllib.request.urlopen(url, timeout=5) as response:
            seen.add(json.loads(response.read())["version"])
    return seen


def test_up_then_new_version_answers_through_gateway(demo_lab: LabRun) -> None:
    first = demo_lab("up", "--version", "v1.2.0", "--json")
    assert first.code == 0, first.err
    agent = next(s for s in first.json()["services"] if s["service"] == "agent")
    assert agent["ready"] == 3
    assert {r["version"] for r in agent["replicas"]} == {"1.2.0"}
    assert versions_through_gateway(demo_lab) == {"1.2.0"}

    second = demo_lab("up", "--version", "v1.3.0")
    assert second.code == 0, second.err
    assert versions_through_gateway(demo_lab) == {"1.3.0"}
    assert "agentlab-demo/agent:1.3.0" in (demo_lab.state_dir / "override.yaml").read_text()


def test_status_json_fields(demo_lab: LabRun) -> None:
    assert demo_lab("up", "--version", ">=1.2 <1.4").code == 0  # a range: highest match
    status = demo_lab("status", "--json")
    assert status.code == 0, status.err
    doc = status.json()
    assert doc["project"] == demo_lab.project
    services = {s["service"]: s for s in doc["services"]}
    assert set(services) == {"gateway", "agent", "collector", "agentlab-registry"}
    assert not services["agentlab-registry"]["managed"]  # the demo lab's registry
    assert services["gateway"]["surge_blockers"] == []  # port 0: an ephemeral host port
    replica = services["agent"]["replicas"][0]
    for key in ("container", "tag", "version", "image_id", "digest", "state", "health", "uptime_s"):
        assert key in replica
    assert replica["state"] == "running" and replica["health"] == "healthy"
    assert replica["version"] == "1.3.0"
    demo_lab.env["AGENTLAB_GATEWAY_PORT"] = "8080"  # the lab's default: a fixed host port
    table = demo_lab("status")
    assert "CONTAINER" in table.out
    assert "gateway cannot take extra replicas: fixed host port" in table.out


def test_image_labels(demo_lab: LabRun) -> None:
    out = demo_lab.docker("image", "inspect", "agentlab-demo/agent:2.0.0")
    labels = json.loads(out)[0]["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "2.0.0"
    assert labels["org.opencontainers.image.title"] == "agent"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["org.opencontainers.image.revision"]
    assert labels["org.opencontainers.image.source"]
    assert labels["io.agentlab.requires"] == "collector>=2.0.0"


@pytest.mark.parametrize(
    "args",
    [
        ["up", "--set", "nosuch=1.0.0"],
        ["up", "--version", "one.two"],
        ["up", "--version", "9.9.9"],
        ["up", "--version", "latest"],
        ["up", "--bogus-flag"],
        ["up", "--set", "agent"],
        ["rollout-nonsense"],
    ],
)
def test_bad_input_changes_nothing(demo_lab: LabRun, args: list[str]) -> None:
    assert demo_lab("up", "--version", "1.2.0").code == 0
    override = (demo_lab.state_dir / "override.yaml").read_text()
    mine = f"label=com.docker.compose.project={demo_lab.project}"
    before = demo_lab.docker("ps", "-a", "--filter", mine, "--format", "{{.ID}} {{.Image}}")
    result = demo_lab(*args)
    assert result.code == 2, result.err
    assert len(result.err.strip().splitlines()) == 1
    assert result.err.startswith("error: ")
    assert (demo_lab.state_dir / "override.yaml").read_text() == override
    after = demo_lab.docker("ps", "-a", "--filter", mine, "--format", "{{.ID}} {{.Image}}")
    assert sorted(after.splitlines()) == sorted(before.splitlines())


def test_unhealthy_up_exits_1_naming_replicas(demo_lab: LabRun) -> None:
    result = demo_lab("up", "--version", "1.4.0", "--timeout", "20")
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "not healthy" in errors[0] and "agent-1" in errors[0]
    assert "health:" in result.err  # the failing probe's output follows the error line


def test_down_leaves_nothing(demo_lab: LabRun) -> None:
    assert demo_lab("up").code == 0
    assert demo_lab.containers()
    assert demo_lab("down").code == 0
    assert demo_lab.containers() == []
    nets = demo_lab.docker(
        "network", "ls", "--filter", f"label=com.docker.compose.project={demo_lab.project}", "-q"
    )
    assert nets.strip() == ""


def test_major_version_requirement_is_checked_both_ways(demo_lab: LabRun) -> None:
    alone = demo_lab("up", "--version", "2.0.0")
    assert alone.code == 2
    assert "agent 2.0.0 requires collector>=2.0.0" in alone.err
    assert demo_lab.containers() == []

    both = demo_lab("up", "--version", "2.0.0", "--set", "collector=2.0.0")
    assert both.code == 0, both.err
    assert versions_through_gateway(demo_lab) == {"2.0.0"}

    downgrade = demo_lab("rollout", "collector", "--to", "1.0.0")
    assert downgrade.code == 2
    assert "roll agent off 2.0.0 first" in downgrade.err


def test_up_and_scale_show_readiness_as_it_comes(demo_lab: LabRun) -> None:
    up = demo_lab("up", "--version", "1.5.0")  # the agents listen only after 8 s
    assert up.code == 0, up.err
    counts = [line for line in up.err.splitlines() if line.endswith("replicas ready")]
    ready = [int(line.split("/")[0]) for line in counts]
    assert ready and ready[0] <= 2 and ready == sorted(ready)  # agentlab's own wait, as it goes
    done, total = counts[-1].removesuffix(" replicas ready").split("/")
    assert done == total  # ends on the whole count
    scaled = demo_lab("scale", "agent", "4")
    assert scaled.code == 0, scaled.err
    assert "3/4 replicas ready" in scaled.err
    assert len([n for n in demo_lab.containers() if "-agent-" in n]) == 4


def test_change_feed_wakes_on_a_container_event(demo_lab: LabRun) -> None:
    assert demo_lab("up", "--version", "1.3.0").code == 0
    engine = ComposeEngine([DEMO], demo_lab.project)
    victim = engine.replicas("agent")[0]
    feed = engine.changes()
    try:
        assert feed.wait(0.5) is False  # nothing happens to a settled lab
        engine.kill_replica(victim.id)
        assert feed.wait(60) is True  # woken by its `die`, not by the timeout
    finally:
        feed.close()


def stable(replicas: list[Replica]) -> list[tuple[object, ...]]:
    """What two reads of a live lab must agree on: not health, which probes keep changing."""
    return [(r.id, r.name, r.service, r.number, r.image_ref, r.image_id, dict(r.labels))
            for r in replicas]  # fmt: skip


def test_engine_api_and_cli_reads_agree(demo_lab: LabRun) -> None:
    """Reads go to the engine's unix socket when the CLI would use one, else through the
    CLI (tcp, ssh, TLS endpoints): both paths must see the same lab."""
    assert demo_lab("up", "--version", "1.3.0").code == 0
    fast = ComposeEngine([DEMO], demo_lab.project)
    cli = ComposeEngine([DEMO], demo_lab.project, transport=CliTransport())
    assert isinstance(fast.transport, ApiTransport)
    replicas = fast.replicas()
    assert len(replicas) == 6  # 3 agents, collector, gateway, and the demo lab's registry
    assert stable(replicas) == stable(cli.replicas())
    assert stable(fast.replicas("agent")) == stable(cli.replicas("agent"))
    assert fast.images("agentlab-demo/agent") and sorted(
        fast.images("agentlab-demo/agent"), key=lambda i: i.tag
    ) == sorted(cli.images("agentlab-demo/agent"), key=lambda i: i.tag)
    assert fast.image("agentlab-demo/agent:1.3.0") == cli.image("agentlab-demo/agent:1.3.0")
    assert (
        fast.image("agentlab-demo/agent:0.0.404")
        is None
        is cli.image("agentlab-demo/agent:0.0.404")
    )
    ids = [r.image_id for r in replicas]
    assert fast.digests(ids) == cli.digests(ids)


@pytest.mark.parametrize("api", [True, False], ids=["engine-api", "cli"])
def test_both_paths_stop_kill_and_remove_replicas(demo_lab: LabRun, api: bool) -> None:
    assert demo_lab("up", "--version", "1.3.0").code == 0
    transport = None if api else CliTransport()
    engine = ComposeEngine([DEMO], demo_lab.project, transport=transport)
    first, second, third = engine.replicas("agent")
    engine.stop_replica(first.id, timeout=10)
    engine.kill_replica(second.id)
    states = {r.id: r for r in engine.replicas("agent")}
    assert states[first.id].state == "exited" and states[first.id].exit_code == 0  # drained
    assert states[second.id].state == "exited" and states[second.id].exit_code == 137
    engine.remove_replica(first.id)
    engine.remove_replica(second.id)
    assert [r.id for r in engine.replicas("agent")] == [third.id]
