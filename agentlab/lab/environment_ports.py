"""An environment's host ports: side by side on one engine, environments must not publish
the same host port. In an environment whose `ports` are `ephemeral` (the default), every
fixed host port a service (or agentlab's proxy) publishes becomes an ephemeral one on the
same address, in the environment's override; `fixed` keeps the compose file's ports. The
lab's registry is the exception: image references name its port, so in such an
environment it takes a free port once and keeps it (lab/registry.py)."""

from __future__ import annotations

from typing import Any

from agentlab.common.events import ProgressSink
from agentlab.engine.model import PublishedPort
from agentlab.lab.model import ProjectModel
from agentlab.state.override import REGISTRY_SERVICE, drop_replaced_ports, set_ports


def ephemeral(model: ProjectModel) -> bool:
    """Whether this lab publishes its ports on ephemeral host ports (an environment's)."""
    environment = model.project.environment_settings
    return environment is not None and environment.ports == "ephemeral"


def wanted_ports(model: ProjectModel) -> dict[str, list[dict[str, Any]]]:
    """Per service that publishes a fixed host port: its ports, each on an ephemeral host
    port instead (empty outside an ephemeral environment, or once applied)."""
    if not ephemeral(model):
        return {}
    return {
        name: [_ephemeral(port) for port in spec.ports]
        for name, spec in model.services.items()
        if spec.fixed_host_ports and name != REGISTRY_SERVICE  # it keeps the port it chose
    }


def apply(model: ProjectModel, progress: ProgressSink) -> None:
    """Write the environment's ports into the override (callers hold the project lock;
    after the traffic layer's, which rewrites the ports it owns); with `ports: fixed`,
    give back the compose file's ports an ephemeral run left there."""
    wanted = wanted_ports(model)
    if wanted:
        set_ports(model.override_path, wanted)
        model.reload()
    elif not ephemeral(model) and (given_back := drop_replaced_ports(model.override_path)):
        model.reload()
        progress(
            f"{', '.join(given_back)}: the compose file's host ports again (ports: fixed; "
            "Compose recreates running replicas to publish them)"
        )


def _ephemeral(port: PublishedPort) -> dict[str, Any]:
    """Compose's long syntax without `published`: any free host port."""
    entry: dict[str, Any] = {"target": port.target, "protocol": port.protocol}
    if port.host_ip:
        entry["host_ip"] = port.host_ip
    return entry
