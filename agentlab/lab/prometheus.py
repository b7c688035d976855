"""agentlab's optional Prometheus (agentlab.yaml `prometheus:`): a container of the project,
on the traffic layer's networks, that scrapes the proxy and loads alert rules; PromQL gates
are evaluated through its HTTP API, published on 127.0.0.1.

It is written into the override with the traffic layer (the proxy is what it scrapes), so
`up` starts it and `down` removes it with the rest of the project.
"""

from __future__ import annotations

import os
from typing import Any

from agentlab.common.errors import AgentlabError, BadInput
from agentlab.lab.model import ProjectModel
from agentlab.project.prometheus_settings import PrometheusSettings
from agentlab.rollout.canary import CanaryPlan
from agentlab.rollout.promql_gates import PLACEHOLDERS, PromQLGate, Query
from agentlab.state.override import LAYER_PREFIX
from agentlab.traffic.haproxy_config import METRICS_PORT
from agentlab.traffic.prometheus_api import Alert, PrometheusAPI
from agentlab.traffic.prometheus_config import (
    API_PORT,
    CONFIG_PATH,
    RULES_PATH,
    command,
    default_rules,
    render,
)

SERVICE = f"{LAYER_PREFIX}prometheus"
_ON = "prometheus: {} in agentlab.yaml, then agentlab up"
STOP_TIMEOUT = 5.0  # s


def settings(model: ProjectModel) -> PrometheusSettings | None:
    return model.project.settings.prometheus


def image(wanted: PrometheusSettings) -> str:
    """$AGENTLAB_PROMETHEUS_IMAGE, else agentlab.yaml's image (prom/prometheus by default)."""
    return os.environ.get("AGENTLAB_PROMETHEUS_IMAGE") or wanted.image


def check_image(model: ProjectModel) -> None:
    """BadInput when Prometheus is on and its image is not local (agentlab never pulls)."""
    wanted = settings(model)
    if wanted is not None and model.image(image(wanted)) is None:
        raise BadInput(
            f"Prometheus' image {image(wanted)} is not present locally (agentlab never pulls)",
            hint=f"docker pull {wanted.image}, or set AGENTLAB_PROMETHEUS_IMAGE "
            "(scripts/lib.sh ensure_prometheus_image builds one offline)",
        )


def fragment(model: ProjectModel, proxy: str, networks: list[str]) -> dict[str, Any]:
    """Prometheus' service and configs for the override ({} when it is off): it joins
    `networks` and scrapes the `proxy` service's metrics port."""
    wanted = settings(model)
    if wanted is None:
        return {}
    rules = wanted.rules.read_text(encoding="utf-8") if wanted.rules else default_rules()
    service = {
        "image": image(wanted),
        "pull_policy": "never",
        "command": command(),
        "configs": [
            {"source": f"{LAYER_PREFIX}prometheus-config", "target": CONFIG_PATH},
            {"source": f"{LAYER_PREFIX}prometheus-rules", "target": RULES_PATH},
        ],
        "ports": [f"127.0.0.1:{wanted.port or ''}:{API_PORT}"],
        "networks": networks,
        "restart": "unless-stopped",
    }
    config = render(f"{proxy}:{METRICS_PORT}", wanted.scrape_interval)
    return {
        "services": {SERVICE: service},
        "configs": {
            f"{LAYER_PREFIX}prometheus-config": {"content": config},
            f"{LAYER_PREFIX}prometheus-rules": {"content": rules},
        },
    }


def remove_if_off(model: ProjectModel) -> bool:
    """Prometheus switched off in agentlab.yaml: its container, which Compose no longer
    knows, is stopped and removed (True when there was one)."""
    if settings(model) is not None:
        return False
    found = model.engine.replicas(SERVICE)
    for replica in found:
        model.engine.stop_replica(replica.id, STOP_TIMEOUT)
        model.engine.remove_replica(replica.id)
    return bool(found)


def api(model: ProjectModel) -> PrometheusAPI:
    """The lab's Prometheus; BadInput when it is off or not running."""
    if settings(model) is None:
        raise BadInput("this lab has no Prometheus", hint=_ON)
    port = model.engine.published_port(SERVICE, API_PORT)
    if port is None:
        hint = "agentlab up starts it (with the traffic layer it scrapes)"
        raise BadInput("agentlab's Prometheus is not running", hint=hint)
    hint = f"agentlab status; docker compose -p {model.name} logs {SERVICE}"
    return PrometheusAPI(f"http://127.0.0.1:{port}", hint)


def url(model: ProjectModel) -> str | None:
    """Where Prometheus answers from the host (None: off or not running)."""
    try:
        return api(model).url
    except AgentlabError:
        return None


def promql_gates(plan: CanaryPlan) -> list[PromQLGate]:
    return [gate for gate in plan.analysis.gates if isinstance(gate, PromQLGate)]


def check_gates(model: ProjectModel, plan: CanaryPlan) -> None:
    """Before anything is touched: PromQL gates need a running Prometheus that takes their
    queries (placeholders filled with stand-ins; no data is fine)."""
    gates = promql_gates(plan)
    if not gates:
        return
    if settings(model) is None:
        raise BadInput(f"gate '{gates[0].text}' needs Prometheus; this lab has none", hint=_ON)
    prometheus = api(model)
    stand_ins = {name: "0" for name in PLACEHOLDERS} | {"interval": "1s"}
    for gate in gates:
        try:
            prometheus.query(gate.rendered(stand_ins))
        except BadInput as error:
            raise BadInput(f"gate '{gate.text}': {error.message}", hint=error.hint) from None


def query_function(model: ProjectModel, plan: CanaryPlan) -> Query | None:
    """What a canary evaluates its PromQL gates with (None: it has none, or Prometheus is
    not running: its readings are then inconclusive, and say so)."""
    if not promql_gates(plan):
        return None
    try:
        return api(model).query
    except AgentlabError:
        return None


def alerts(model: ProjectModel) -> list[Alert]:
    """The alerts of the lab's rules, pending or firing now."""
    return api(model).alerts()
