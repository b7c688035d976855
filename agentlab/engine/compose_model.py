"""The services of `docker compose config --format json`, as typed ServiceSpecs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentlab.common.durations import parse_duration
from agentlab.engine.model import ServiceSpec


def services_from_config(config: Mapping[str, Any]) -> dict[str, ServiceSpec]:
    """Build ServiceSpecs from `docker compose config --format json` output."""
    specs = {}
    for name, svc in (config.get("services") or {}).items():
        deploy = svc.get("deploy") or {}
        build = svc.get("build")
        replicas = deploy.get("replicas", svc.get("scale", 1))
        specs[name] = ServiceSpec(
            name=name,
            image=svc.get("image"),
            build_context=build.get("context") if isinstance(build, Mapping) else None,
            replicas=int(replicas if replicas is not None else 1),
            container_name=svc.get("container_name"),
            fixed_host_ports=tuple(_fixed_ports(svc.get("ports") or [])),
            update_config=deploy.get("update_config") or {},
            rollback_config=deploy.get("rollback_config") or {},
            stop_grace_period=parse_duration(svc.get("stop_grace_period"), 10.0),
        )
    return specs


def _fixed_ports(ports: list[Mapping[str, Any]]) -> list[str]:
    fixed = []
    for port in ports:
        published = str(port.get("published") or "")
        if published and published != "0" and "-" not in published:
            host = f"{port['host_ip']}:" if port.get("host_ip") else ""
            fixed.append(f"{host}{published}->{port.get('target')}")
    return fixed
