"""Drills on single replicas (find, kill, read logs) and where traffic enters the lab."""

from __future__ import annotations

from agentlab.common.errors import BadInput
from agentlab.engine.model import Replica
from agentlab.lab.model import ProjectModel


def find_replica(model: ProjectModel, name_or_id: str) -> Replica:
    """A replica of this project by container name or id prefix."""
    for replica in model.engine.replicas():
        if name_or_id in (replica.name, replica.short_id) or replica.id.startswith(name_or_id):
            return replica
    raise BadInput(
        f"no container '{name_or_id}' in project {model.name}", hint="agentlab status lists them"
    )


def traffic_url(model: ProjectModel) -> str:
    """The URL on 127.0.0.1 that traffic is sent to (agentlab.yaml `traffic`)."""
    target = model.project.settings.traffic
    port = model.engine.published_port(target.service, target.port)
    if port is None:
        raise BadInput(
            f"{target.service} does not publish port {target.port}",
            hint="agentlab up first, or set traffic: {service, port, path} in agentlab.yaml",
        )
    return f"http://127.0.0.1:{port}{target.path}"
