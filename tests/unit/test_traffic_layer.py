"""The traffic layer's parts without Docker: the gate on an in-memory router, the meter's
figures, the HAProxy runtime API's answers, the configuration, and the override's
`!reset`."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentlab.engine.fake import FakeEngine
from agentlab.engine.inspect import published_ports
from agentlab.engine.model import Replica
from agentlab.lab.facade import Lab
from agentlab.lab.layer_gate import LayerGate
from agentlab.lab.traffic_layer import PROXY, TrafficLayer
from agentlab.project.config import load_settings
from agentlab.project.location import Project
from agentlab.state.override import (
    MovedPort,
    Reset,
    read_override,
    set_traffic_layer,
    update_override,
)
from agentlab.traffic.fake import FakeRouter
from agentlab.traffic.haproxy import HAProxyRouter
from agentlab.traffic.haproxy_config import (
    FIRST_LISTEN_PORT,
    METRICS_PORT,
    PREVIEW_OFFSET,
    RUNTIME_PORT,
    Frontend,
    render,
)
from agentlab.traffic.meter_rules import BUCKETS, CLASSES
from agentlab.traffic.metrics import VersionFigures, parse, since

BACKEND = "agentlab_web_8000"
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def replica(number: int, version: str, **changes: object) -> Replica:
    fields: dict[str, object] = {
        "id": f"id{number}", "name": f"shop-web-{number}", "service": "web", "number": number,
        "image_ref": f"shop-web:{version}", "image_id": "sha256:1", "state": "running",
        "health": "healthy", "started_at": NOW, "named": True,
        "labels": {"org.opencontainers.image.version": version},
        "addresses": {"shop_default": f"172.20.0.{number + 1}"},
    }  # fmt: skip
    fields.update(changes)
    return Replica(**fields)  # type: ignore[arg-type]


@pytest.fixture
def gate() -> tuple[LayerGate, FakeRouter]:
    fake = FakeRouter()
    return LayerGate(fake, [Frontend("web", 8000, 10000)], {"shop_default"}), fake


def test_a_replica_is_admitted_drained_and_forgotten(gate: tuple[LayerGate, FakeRouter]) -> None:
    layer, fake = gate
    one = replica(1, "1.0.0")
    layer.admit(one)
    assert fake.routes(BACKEND)[0].address == "172.20.0.2:8000"
    assert fake.serving(BACKEND) == ["shop-web-1--1.0.0"]
    layer.admit(one)  # again: nothing changes
    assert [name for name, _ in fake.calls].count("add") == 1
    assert layer.withdraw(one) is True
    assert fake.serving(BACKEND) == [] and fake.routes(BACKEND)[0].state == "drain"
    assert layer.withdraw(one) is False  # nothing left to take out
    layer.forget(one)
    assert fake.routes(BACKEND) == []


def test_a_moved_address_is_routed_again(gate: tuple[LayerGate, FakeRouter]) -> None:
    layer, fake = gate
    layer.admit(replica(1, "1.0.0"))
    layer.admit(replica(1, "1.0.0", addresses={"shop_default": "172.20.0.9"}))
    assert [r.address for r in fake.routes(BACKEND)] == ["172.20.0.9:8000"]


def test_sync_puts_the_proxy_in_line_with_the_replicas(gate: tuple[LayerGate, FakeRouter]) -> None:
    layer, fake = gate
    fake.add(BACKEND, "shop-web-1--1.0.0", "172.20.0.2:8000")  # gone since
    fake.add(BACKEND, "shop-web-2--1.0.0", "172.20.0.3:8000")  # out of its name: drain
    fake.add(BACKEND, "shop-web-3--1.1.0", "172.20.0.4:8000")
    fake.drain(BACKEND, "shop-web-3--1.1.0")  # drained by a killed rollout, back in its name
    layer.sync([replica(2, "1.0.0", named=False), replica(3, "1.1.0"), replica(4, "1.1.0"),
                replica(5, "1.1.0", health="starting")])  # fmt: skip
    states = {r.server: r.state for r in fake.routes(BACKEND)}
    assert states == {
        "shop-web-2--1.0.0": "drain",
        "shop-web-3--1.1.0": "ready",
        "shop-web-4--1.1.0": "ready",
    }


def test_a_split_weighs_the_versions_and_never_leaves_every_server_at_0(
    gate: tuple[LayerGate, FakeRouter],
) -> None:
    layer, fake = gate
    for number, version in ((1, "1.0.0"), (2, "1.0.0"), (3, "1.0.0"), (4, "1.1.0")):
        layer.admit(replica(number, version))
    assert layer.split("1.1.0", 10) is True
    assert fake.serving(f"{BACKEND}_canary") == ["shop-web-4--1.1.0"]  # the header's way in
    weights = {r.server: r.weight for r in fake.routes(BACKEND)}
    assert weights == {"shop-web-1--1.0.0": 3, "shop-web-2--1.0.0": 3, "shop-web-3--1.0.0": 3,
                       "shop-web-4--1.1.0": 1}  # fmt: skip
    layer.split("1.1.0", 100)
    assert fake.serving(BACKEND) == ["shop-web-4--1.1.0"]
    fake.calls.clear()
    layer.split("1.1.0", 0)  # back: the stable servers are raised before the canary drops
    weighed = [args[1:] for name, args in fake.calls if name == "weigh"]
    assert weighed[:3] == [(f"shop-web-{n}--1.0.0", 1) for n in (1, 2, 3)]
    assert weighed[3:] == [("shop-web-4--1.1.0", 0)]
    assert fake.serving(f"{BACKEND}_canary") == ["shop-web-4--1.1.0"]  # weight 0: header only
    layer.split("1.1.0", 0, header_routing=False)  # an abort
    assert fake.serving(f"{BACKEND}_canary") == []
    layer.sync([replica(n, "1.0.0") for n in (1, 2, 3)] + [replica(4, "1.1.0")])
    assert {r.weight for r in fake.routes(BACKEND)} == {1}  # no canary runs: even again


def test_a_replica_admitted_while_a_split_holds_never_gets_more_than_its_share(
    gate: tuple[LayerGate, FakeRouter],
) -> None:
    layer, fake = gate
    for number in (1, 2, 3):
        layer.admit(replica(number, "1.0.0"))
    layer.split("1.1.0", 0)  # what a canary or blue-green does before its replicas start
    layer.admit(replica(4, "1.1.0"))
    [added] = [args for name, args in fake.calls if name == "add" and args[0] == BACKEND][-1:]
    assert fake.routes(BACKEND)[-1].weight == 0 and added[1] == "shop-web-4--1.1.0"
    layer.split("1.1.0", 50)
    layer.admit(replica(5, "1.1.0"))
    weights = {r.server.split("--")[0][-1]: r.weight for r in fake.routes(BACKEND)}
    assert weights == {"1": 2, "2": 2, "3": 2, "4": 3, "5": 3}  # 50 % over 2 canaries


def test_the_meter_reads_per_version_counts_and_latency() -> None:
    text = "\n".join([
        '# TYPE agentlab_requests_total counter',
        'agentlab_requests_total{backend="b",version="1.0.0",code="2xx"} 98',
        'agentlab_requests_total{backend="b",version="1.0.0",code="5xx"} 2',
        'agentlab_requests_total{backend="b",version="none",code="5xx"} 1',
        'agentlab_request_duration_seconds_bucket{backend="b",version="1.0.0",le="0.005"} 50',
        'agentlab_request_duration_seconds_bucket{backend="b",version="1.0.0",le="0.01"} 99',
        'agentlab_request_duration_seconds_bucket{backend="b",version="1.0.0",le="0.1"} 100',
        'agentlab_request_duration_seconds_bucket{backend="b",version="1.0.0",le="+Inf"} 100',
        'agentlab_request_duration_seconds_count{backend="b",version="1.0.0"} 100',
        'agentlab_request_duration_seconds_sum{backend="b",version="1.0.0"} 0.7',
    ])  # fmt: skip
    figures = parse(text)["b"]
    one = figures["1.0.0"]
    assert (one.requests, one.errors) == (100, 2)
    assert (one.quantile(0.5), one.quantile(0.99), one.quantile(1.0)) == (0.005, 0.01, 0.1)
    assert figures["none"].errors == 1
    earlier = VersionFigures({"2xx": 90}, {0.005: 45, 0.01: 90, 0.1: 90}, 90, 0.6)
    assert since(figures, {"1.0.0": earlier})["1.0.0"].codes == {"2xx": 8, "5xx": 2}


@pytest.fixture
def runtime_api() -> Iterator[tuple[int, list[str]]]:
    """A stand-in for HAProxy's runtime API: answers `show servers state` with two
    servers, anything else with an empty line; records the commands."""
    seen: list[str] = []
    listener = socket.create_server(("127.0.0.1", 0))
    rest = "1 1 3 6 3 2 6 0 0 0 - 8000 - 0 0 - - 0"
    state = (
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...\n"
        f"4 agentlab_web_8000 1 shop-web-1--1.0.0 172.20.0.2 2 8 {rest}\n"
        f"4 agentlab_web_8000 2 shop-web-2--1.1.0 172.20.0.3 2 0 {rest}\n"
    )

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                line = conn.makefile().readline().strip()
                seen.append(line)
                answer = state if line.startswith("show servers state") else "\n"
                if line.startswith("del server agentlab_web_8000/missing"):
                    answer = "No such server.\n"
                if line == "del server agentlab_web_8000/busy" and seen.count(line) < 3:
                    answer = "Server still has connections attached to it, cannot remove it.\n"
                conn.sendall(answer.encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], seen
    listener.close()


def test_the_runtime_api_answers_are_read(runtime_api: tuple[int, list[str]]) -> None:
    port, seen = runtime_api
    haproxy = HAProxyRouter("127.0.0.1", port)
    routes = haproxy.routes("agentlab_web_8000")
    assert [(r.server, r.address, r.state, r.up) for r in routes] == [
        ("shop-web-1--1.0.0", "172.20.0.2:8000", "drain", True),
        ("shop-web-2--1.1.0", "172.20.0.3:8000", "ready", True),
    ]
    assert routes[0].replica == "shop-web-1"
    haproxy.add("agentlab_web_8000", "shop-web-3--1.1.0", "172.20.0.4:8000")
    server = "agentlab_web_8000/shop-web-3--1.1.0"
    assert seen[-3:] == [
        f"add server {server} 172.20.0.4:8000 check inter 1s fall 2 rise 1"
        " pool-max-conn -1 pool-purge-delay 5s weight 1",
        f"enable health {server}",
        f"enable server {server}",
    ]
    with pytest.raises(Exception, match="refused `del server agentlab_web_8000/missing`"):
        haproxy.remove("agentlab_web_8000", "missing")
    haproxy.remove("agentlab_web_8000", "busy")  # deleted once its idle connections close
    assert seen.count("del server agentlab_web_8000/busy") == 3


def test_the_configuration_has_a_frontend_and_an_empty_backend_per_port() -> None:
    text = render([Frontend("web", 8000, 10000), Frontend("api", 9000, 10001)], cores=2)
    assert "frontend fe_web_8000\n    bind :10000\n" in text
    assert "backend agentlab_api_9000\n    balance roundrobin\n" in text
    assert "backend agentlab_web_8000_canary\n" in text  # header-routed requests
    assert ("use_backend agentlab_web_8000_canary if { req.hdr(X-Canary) -m str always } "
            "{ nbsrv(agentlab_web_8000_canary) gt 0 }") in text  # fmt: skip
    assert "stats socket ipv4@0.0.0.0:9999 level admin" in text
    assert not [line for line in text.splitlines() if line.startswith("    server ")]


def test_each_response_is_counted_by_haproxy_s_rules_with_no_lua_call() -> None:
    text = render([Frontend("web", 8000, 10000)], cores=2)
    front = text.split("frontend fe_web_8000\n")[1].split("\nbackend ")[0]
    assert "lua." not in front  # Lua only serves /metrics/versions
    track = "    http-response track-sc0 var(txn.agentlab_key) table agentlab_meter\n"
    key = '"%b/%[srv_name,regsub(^.*--,)]/%[thread]"'  # per version: replicas add no entry
    assert f"    http-response set-var-fmt(txn.agentlab_key) {key}\n" + track in front
    assert "    http-response sc-inc-gpc(4,0) if { status 500:599 }\n" in front
    low = [f"sc-inc-gpc({5 + i},0) if {{ var(txn.agentlab_us) -m int {r} }}"
           for i, r in enumerate(["0:1000", "1001:2500"])]  # fmt: skip
    assert all(rule in front for rule in low)
    assert "sc-inc-gpc(18,0) if { var(txn.agentlab_us) -m int ge 10000001 }" in front
    assert front.count("sc-inc-gpc(") == len(CLASSES) + len(BUCKETS) + 1  # one bucket each
    assert "stick-table type string len 256 size 20000 store gpt(2),gpc(19)" in text
    assert "    setenv AGENTLAB_METER_BUCKETS 0.001,0.0025,0.005," in text
    assert text.index("setenv AGENTLAB_RUNTIME_PORT 9999") < text.index("lua-load")


def test_the_override_keeps_the_reset_ports_and_the_pins(tmp_path: Path) -> None:
    path = tmp_path / "override.yaml"
    update_override(path, pins={"web": "shop-web:1.0.0"})
    moved = (MovedPort("web", 8000, 8000, "127.0.0.1"),)
    fragment = {"services": {"web": {"ports": Reset([])}, "agentlab-proxy": {"image": "h:1"}},
                "configs": {"agentlab-haproxy": {"content": "x"}}}  # fmt: skip
    set_traffic_layer(path, moved, fragment)
    update_override(path, pins={"web": "shop-web:1.1.0"})
    text = path.read_text()
    assert "ports: !reset []" in text
    override = read_override(path)
    assert override.pins == {"web": "shop-web:1.1.0"}  # the proxy is no pin
    assert override.moved_ports == moved and override.traffic_layer == ("web",)
    set_traffic_layer(path, (), {})
    assert "agentlab-proxy" not in path.read_text() and "!reset" not in path.read_text()
    assert read_override(path).pins == {"web": "shop-web:1.1.0"}


def test_a_container_s_published_tcp_ports_are_read_from_its_inspect() -> None:
    ports = {
        "9999/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32771"}],
        "8404/tcp": None,  # exposed, not published
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8081"}],
    }
    assert published_ports({"NetworkSettings": {"Ports": ports}}) == {9999: 32771, 80: 8080}
    assert published_ports({"NetworkSettings": {"Ports": None}}) == {}


def proxy_ports(fake: FakeEngine, first: int) -> None:
    """The proxy's runtime API, metrics, web's entry and preview on host ports from `first`."""
    inside = (RUNTIME_PORT, METRICS_PORT, FIRST_LISTEN_PORT, FIRST_LISTEN_PORT + PREVIEW_OFFSET)
    for number, port in enumerate(inside):
        fake.ports[(PROXY, port)] = first + number


def test_a_canary_start_reads_the_proxy_once_and_a_recreated_proxy_again(
    tmp_path: Path,
) -> None:
    fake = FakeEngine(nap=0.0)
    fake.add_image("lab/web:1.0.0")
    fake.add_image("haproxy:2.6")
    fake.add_service("web", "lab/web:1.0.0", replicas=2)
    proxy_ports(fake, 1001)
    fake.add_service(PROXY, "haproxy:2.6")
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n", encoding="utf-8")
    lab = Lab(Project((compose,), load_settings(tmp_path), "lab"), engine_factory=fake.attach)
    fragment = {"services": {"web": {"ports": Reset([])}, PROXY: {"image": "haproxy:2.6"}}}
    set_traffic_layer(lab.model.override_path, (MovedPort("web", 8000, None, ""),), fragment)
    layer = TrafficLayer(lab.model)
    fake.calls.clear()

    def canary_start() -> tuple[int, str, str]:
        """What a canary's start asks the traffic layer (lab/rollouts.py, lab/canaries.py)."""
        gate = layer.gate("web")
        assert gate is not None and isinstance(gate.router, HAProxyRouter)
        return gate.router.port, layer.metrics_url(), layer.preview_url("web")

    first = canary_start()
    assert first == (1001, "http://127.0.0.1:1002/metrics/versions", "http://127.0.0.1:1004/")
    assert fake.called("replicas") == [(PROXY,)]
    assert fake.called("published_port") == []
    assert canary_start() == first
    assert fake.called("replicas") == [(PROXY,)] * 2  # the gate reads it again, no port
    fake.remove_replica(fake.of(PROXY)[0].id)  # recreated: new ephemeral ports
    proxy_ports(fake, 2001)
    fake.start(PROXY, "haproxy:2.6", 1)
    assert canary_start() == (
        2001,
        "http://127.0.0.1:2002/metrics/versions",
        "http://127.0.0.1:2004/",
    )
    assert layer.entry_url("web", "/version") == "http://127.0.0.1:2003/version"
    assert fake.called("published_port") == []


def test_the_proxy_image_given_once_is_kept_until_another_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n", encoding="utf-8")
    lab = Lab(
        Project((compose,), load_settings(tmp_path), "lab"), engine_factory=FakeEngine().attach
    )
    layer = TrafficLayer(lab.model)
    monkeypatch.delenv("AGENTLAB_PROXY_IMAGE", raising=False)
    assert layer.image() == "haproxy:2.6"  # nothing given yet: the official one
    fragment = {"services": {"web": {"ports": Reset([])}, PROXY: {"image": "mine/haproxy:1"}}}
    set_traffic_layer(lab.model.override_path, (MovedPort("web", 8000, None, ""),), fragment)
    assert layer.image() == "mine/haproxy:1"  # a later `up` without the variable keeps it
    monkeypatch.setenv("AGENTLAB_PROXY_IMAGE", "other/haproxy:2")
    assert layer.image() == "other/haproxy:2"
    assert read_override(lab.model.override_path).pins == {}  # the proxy's image is no pin
