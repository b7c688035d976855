"""Drills on single replicas (find one), and where traffic enters the lab."""

from __future__ import annotations

from agentlab.common.errors import BadInput
from agentlab.engine.model import Replica
from agentlab.lab.model import ProjectModel
from agentlab.lab.traffic_layer import TrafficLayer
from agentlab.project.config import TrafficTarget


def find_replica(model: ProjectModel, name_or_id: str) -> Replica:
    """A replica of this project by container name or id prefix."""
    for replica in model.engine.replicas():
        if name_or_id in (replica.name, replica.short_id) or replica.id.startswith(name_or_id):
            return replica
    raise BadInput(
        f"no container '{name_or_id}' in project {model.name}", hint="agentlab status lists them"
    )


def traffic_url(model: ProjectModel, layer: TrafficLayer) -> str:
    """The URL on 127.0.0.1 that traffic is sent to: agentlab.yaml's `traffic` (through
    the traffic layer when its service is behind it), else the traffic layer's first
    service, else the demo's gateway (BadInput in a project without one)."""
    target = model.project.settings.traffic
    proxied = layer.frontends()
    if target is None and proxied:
        return layer.entry_url(proxied[0].service)
    chosen = target or TrafficTarget()
    if any(f.service == chosen.service and f.target == chosen.port for f in proxied):
        return layer.entry_url(chosen.service, chosen.path, chosen.port)
    port = model.engine.published_port(chosen.service, chosen.port)
    if port is None and target is None and chosen.service not in model.services:
        raise BadInput(
            "no entry point for traffic: no service is behind the traffic layer, and "
            "agentlab.yaml names no `traffic:`",
            hint="agentlab up --traffic-layer SERVICE, or set traffic: {service, port, path} "
            "in agentlab.yaml",
        )
    if port is None:
        raise BadInput(
            f"{chosen.service} does not publish port {chosen.port}",
            hint="agentlab up first, or set traffic: {service, port, path} in agentlab.yaml",
        )
    replicas = model.engine.replicas(chosen.service)
    ports = {r.published_ports[chosen.port] for r in replicas
             if r.running and chosen.port in r.published_ports}  # fmt: skip
    if len(ports) > 1:  # each replica on its own host port: one would get every request
        raise BadInput(
            f"{chosen.service} publishes port {chosen.port} on each of its {len(ports)} "
            "replicas: traffic would reach one of them",
            hint=f"agentlab up --traffic-layer {chosen.service} spreads it over them",
        )
    return f"http://127.0.0.1:{port}{chosen.path}"
