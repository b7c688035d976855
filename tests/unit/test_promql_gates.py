"""PromQL gates without Docker: parsing, verdicts, Prometheus' HTTP API answers (a fake
Prometheus on loopback), agentlab.yaml's `prometheus:` section, and the lab's checks and
override fragment."""

from __future__ import annotations

import json
import math
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentlab.common.errors import BadInput, OperationFailed
from agentlab.engine.fake import FakeEngine
from agentlab.lab import prometheus
from agentlab.lab.facade import Lab
from agentlab.project.config import SETTINGS_FILE, load_settings
from agentlab.project.location import Project
from agentlab.project.prometheus_settings import PrometheusSettings, parse_prometheus
from agentlab.rollout.canary import build_plan
from agentlab.rollout.events import GateChecked
from agentlab.rollout.promql_gates import duration, parse_promql_gate, read_promql
from agentlab.traffic.prometheus_api import PrometheusAPI
from agentlab.traffic.prometheus_config import default_rules, render

RATIO = (
    'promql: sum(rate(agentlab_requests_total{service="$service",version="$canary",code="5xx"}'
    '[$interval])) / sum(rate(agentlab_requests_total{service="$service",version="$canary"}'
    "[$interval])) < 1%"
)


# ---- parsing and verdicts ------------------------------------------------------------


def test_a_promql_gate_is_a_query_the_last_comparison_and_a_threshold() -> None:
    gate = parse_promql_gate(RATIO)
    assert gate.query.startswith("sum(rate(") and gate.query.endswith("[$interval]))")
    assert (gate.operator, gate.unit) == ("<", "%")
    assert gate.threshold == pytest.approx(0.01)
    assert parse_promql_gate("promql: up >= 1").threshold == 1
    assert parse_promql_gate("promql: a < b <= 0.5").query == "a < b"  # the last one counts
    latency = parse_promql_gate("promql: histogram_quantile(0.99, x) < 300ms")
    assert latency.threshold == pytest.approx(0.3) and latency.unit == "ms"
    assert parse_promql_gate("promql: x > 1e-3").threshold == pytest.approx(0.001)
    assert parse_promql_gate("promql: sum(a)\n  / sum(b) < 1%").query == "sum(a) / sum(b)"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("promql: sum(x)", "not a PromQL gate"),
        ("promql: < 1", "not a PromQL gate"),
        ('promql: sum(x{a="b"}[$window]) < 1', "unknown placeholder \\$window"),
        ("promql: sum(rate(x[1m]) < 1", "unclosed '\\('"),
        ("promql: sum(x]) < 1", "unbalanced '\\]'"),
        ('promql: x{a="b} < 1', "unclosed"),
    ],
)
def test_a_bad_promql_gate_is_refused_with_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(BadInput, match=says):
        parse_promql_gate(text)


def test_brackets_inside_label_values_do_not_count() -> None:
    assert parse_promql_gate('promql: x{path="/a(b"} < 1').query == 'x{path="/a(b"}'


def test_a_plan_takes_promql_gates_beside_the_others() -> None:
    plan = build_plan("10,100", ["error_rate < 1%", RATIO], {})
    assert [type(g).__name__ for g in plan.analysis.gates] == ["Gate", "PromQLGate"]


def test_placeholders_are_filled_in_and_the_interval_is_a_promql_duration() -> None:
    gate = parse_promql_gate(RATIO)
    values = {"service": "web", "canary": "1.3.0", "interval": duration(2.0)}
    rendered = gate.rendered(values)
    assert 'service="web",version="1.3.0"' in rendered and "[2s]" in rendered
    assert "$" not in rendered
    assert duration(1.5) == "1500ms"


def test_a_reading_passes_fails_or_is_inconclusive() -> None:
    gate = parse_promql_gate(RATIO)
    values = {"canary": "2.0"}
    failing = read_promql(gate, lambda q: 0.05, values, requests=40, min_requests=10)
    assert failing.verdict == "fail"
    assert failing.line() == f"promql {gate.query} = 5% (limit < 1%, 40 requests): fail"
    assert read_promql(gate, lambda q: 0.0, values, 40, 10).verdict == "pass"
    few = read_promql(gate, lambda q: 0.05, values, 3, 10)  # too few canary requests
    assert few.verdict == "inconclusive" and few.value == 0.05
    empty = read_promql(gate, lambda q: None, values, 40, 10)
    assert (empty.verdict, empty.note) == ("inconclusive", "no data")
    nan = read_promql(gate, lambda q: math.nan, values, 40, 10)
    assert nan.verdict == "inconclusive"

    def down(query: str) -> float | None:
        raise OperationFailed("Prometheus does not answer at http://x", hint="agentlab up")

    unreachable = read_promql(gate, down, values, 40, 10)
    assert unreachable.verdict == "inconclusive"
    assert "(Prometheus does not answer at http://x)" in unreachable.line()
    assert read_promql(gate, None, values, 40, 10).note == "no Prometheus"


def test_the_event_line_names_the_query_once() -> None:
    gate = parse_promql_gate("promql: up < 1")
    reading = read_promql(gate, lambda q: 1.0, {}, 40, 10)
    line = GateChecked(gate.text, reading.verdict, reading.line()).line()
    assert line == "   gate promql up = 1 (limit < 1, 40 requests): fail"


# ---- Prometheus' HTTP API -------------------------------------------------------------


class FakePrometheus:
    """Prometheus' query and alerts endpoints on loopback: answers by query text."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self.alerts: list[dict[str, Any]] = []
        self.asked: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query).get("query", [""])[0]
                if url.path == "/api/v1/alerts":
                    code, body = 200, {"status": "success", "data": {"alerts": fake.alerts}}
                else:
                    fake.asked.append(query)
                    code, body = fake.answers.get(query, (200, vector()))
                payload = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


SCALAR = {"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}


def vector(*values: str) -> dict[str, Any]:
    result = [{"metric": {"version": str(i)}, "value": [1.0, v]} for i, v in enumerate(values)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


@pytest.fixture
def fake_prometheus() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_a_query_comes_to_one_number_or_none(fake_prometheus: FakePrometheus) -> None:
    api = PrometheusAPI(fake_prometheus.url)
    fake_prometheus.answers = {
        "one": (200, vector("0.05")),
        "nan": (200, vector("NaN")),
        "two": (200, vector("1", "2")),
        "scalar": (200, SCALAR),
        "bad": (400, {"status": "error", "errorType": "bad_data", "error": "parse error"}),
    }
    assert api.query("one") == 0.05
    assert api.query("none") is None
    assert api.query("nan") is None
    assert api.query("scalar") == 3.0
    with pytest.raises(BadInput, match="2 series"):
        api.query("two")
    with pytest.raises(BadInput, match="Prometheus refuses 'bad': parse error"):
        api.query("bad")


def test_prometheus_down_is_one_line_with_a_hint(fake_prometheus: FakePrometheus) -> None:
    url = fake_prometheus.url
    fake_prometheus.server.shutdown()
    fake_prometheus.server.server_close()
    with pytest.raises(OperationFailed, match=f"Prometheus does not answer at {url}") as error:
        PrometheusAPI(url, hint="agentlab up starts it").query("up")
    assert error.value.hint == "agentlab up starts it"


def test_alerts_are_read_firing_first(fake_prometheus: FakePrometheus) -> None:
    fake_prometheus.alerts = [
        {"labels": {"alertname": "B", "version": "1.0"}, "state": "pending", "annotations": {}},
        {"labels": {"alertname": "A", "service": "web", "version": "1.3.0"}, "state": "firing",
         "annotations": {"summary": "web 1.3.0: 5% of answers are 5xx"}},
    ]  # fmt: skip
    alerts = PrometheusAPI(fake_prometheus.url).alerts()
    assert [(a.name, a.state) for a in alerts] == [("A", "firing"), ("B", "pending")]
    summary = "web 1.3.0: 5% of answers are 5xx"
    assert alerts[0].line() == f"firing   A {{service=web, version=1.3.0}} {summary}"


# ---- agentlab.yaml's section ------------------------------------------------------------


def test_the_prometheus_section_is_opt_in(tmp_path: Path) -> None:
    path = tmp_path / SETTINGS_FILE
    assert parse_prometheus(None, path) is None and parse_prometheus(False, path) is None
    assert parse_prometheus(True, path) == PrometheusSettings()
    (tmp_path / "alerts.yml").write_text("groups: []\n", encoding="utf-8")
    found = parse_prometheus({"image": "me/prom:1", "port": 19090, "scrape_interval": "500ms",
                              "rules": "alerts.yml"}, path)  # fmt: skip
    assert found == PrometheusSettings("me/prom:1", 19090, "500ms", tmp_path / "alerts.yml")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"imge": "x"}, "unknown prometheus key 'imge'"),
        ({"port": 70000}, "port must be 0 to 65535"),
        ({"port": True}, "port must be 0 to 65535"),
        ({"scrape_interval": "1.5s"}, "not a duration"),
        ({"scrape_interval": "5"}, "not a duration"),
        ({"rules": "missing.yml"}, "does not exist"),
        ("yes", "true, false or a mapping"),
    ],
)
def test_a_bad_prometheus_section_is_refused(tmp_path: Path, value: object, says: str) -> None:
    with pytest.raises(BadInput, match=says):
        parse_prometheus(value, tmp_path / SETTINGS_FILE)


def test_the_config_scrapes_the_proxy_and_labels_service_and_version() -> None:
    config = yaml.safe_load(render("agentlab-proxy:9101", "1s"))
    assert config["global"]["scrape_timeout"] == "1s"
    jobs = {job["metrics_path"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"/metrics/versions", "/metrics"}
    assert jobs["/metrics"]["static_configs"] == [{"targets": ["agentlab-proxy:9101"]}]
    relabel = jobs["/metrics"]["metric_relabel_configs"]
    assert {r["target_label"] for r in relabel} == {"service", "version"}
    names = [r["alert"] for g in yaml.safe_load(default_rules())["groups"] for r in g["rules"]]
    assert names == ["AgentlabHighErrorRatio", "AgentlabHighLatencyP99"]


# ---- the lab ----------------------------------------------------------------------------


def make_lab(directory: Path, fake: FakeEngine, **settings: object) -> Lab:
    compose = directory / "compose.yaml"
    compose.write_text("services: {}\n", encoding="utf-8")
    (directory / SETTINGS_FILE).write_text(yaml.safe_dump(settings), encoding="utf-8")
    return Lab(Project((compose,), load_settings(directory), "lab"), engine_factory=fake.attach)


def test_promql_gates_need_a_running_prometheus_that_takes_their_queries(
    tmp_path: Path, fake_prometheus: FakePrometheus
) -> None:
    fake = FakeEngine(nap=0.0)
    plan = build_plan("10,100", [RATIO], {})
    without = make_lab(tmp_path, fake)
    with pytest.raises(BadInput, match="needs Prometheus; this lab has none"):
        prometheus.check_gates(without.model, plan)
    lab = make_lab(tmp_path, fake, prometheus={"port": 0})
    with pytest.raises(BadInput, match="Prometheus is not running"):
        prometheus.check_gates(lab.model, plan)
    assert prometheus.query_function(lab.model, plan) is None  # readings say "no Prometheus"
    fake.ports[(prometheus.SERVICE, 9090)] = fake_prometheus.port
    prometheus.check_gates(lab.model, plan)
    assert fake_prometheus.asked and "$" not in fake_prometheus.asked[0]
    bad = build_plan("10,100", ["promql: broken < 1"], {})
    fake_prometheus.answers["broken"] = (400, {"status": "error", "error": "parse error"})
    with pytest.raises(BadInput, match="gate 'promql: broken < 1': Prometheus refuses"):
        prometheus.check_gates(lab.model, bad)
    fake_prometheus.answers["multi"] = (200, vector("1", "2"))
    with pytest.raises(BadInput, match="gives 2 series"):
        prometheus.check_gates(lab.model, build_plan("10,100", ["promql: multi < 1"], {}))
    query = prometheus.query_function(lab.model, plan)
    assert query is not None and query("anything") is None
    assert lab.alerts() == (fake_prometheus.url, [])


def test_a_prometheus_switched_off_is_removed(tmp_path: Path) -> None:
    fake = FakeEngine(nap=0.0)
    fake.add_image("prom/prometheus:v2.42.0")
    fake.add_service(prometheus.SERVICE, "prom/prometheus:v2.42.0", replicas=1)
    assert prometheus.remove_if_off(make_lab(tmp_path, fake, prometheus=True).model) is False
    assert len(fake.replicas(prometheus.SERVICE)) == 1  # on: left alone
    assert prometheus.remove_if_off(make_lab(tmp_path, fake).model) is True
    assert fake.replicas(prometheus.SERVICE) == []


def test_the_override_gets_prometheus_beside_the_proxy_on_its_networks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTLAB_PROMETHEUS_IMAGE", raising=False)
    lab = make_lab(tmp_path, FakeEngine(nap=0.0), prometheus={"port": 19090})
    found = prometheus.fragment(lab.model, "agentlab-proxy", ["shop_default"])
    service = found["services"][prometheus.SERVICE]
    assert service["image"] == "prom/prometheus:v2.42.0" and service["pull_policy"] == "never"
    assert service["ports"] == ["127.0.0.1:19090:9090"]
    assert service["networks"] == ["shop_default"]
    config = yaml.safe_load(found["configs"]["agentlab-prometheus-config"]["content"])
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["agentlab-proxy:9101"]}]
    monkeypatch.setenv("AGENTLAB_PROMETHEUS_IMAGE", "agentlab/prometheus:offline")
    again = prometheus.fragment(lab.model, "agentlab-proxy", [])
    assert again["services"][prometheus.SERVICE]["image"] == "agentlab/prometheus:offline"
    with pytest.raises(BadInput, match="not present locally"):
        prometheus.check_image(lab.model)
    assert prometheus.fragment(make_lab(tmp_path, FakeEngine(nap=0.0)).model, "p", []) == {}
