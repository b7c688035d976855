"""The services of `docker compose config --format json`, as typed ServiceSpecs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentlab.common.durations import parse_duration
from agentlab.engine.model import BuildSection, PublishedPort, ServiceSpec


def services_from_config(config: Mapping[str, Any]) -> dict[str, ServiceSpec]:
    """Build ServiceSpecs from `docker compose config --format json` output."""
    project = str(config.get("name") or "")
    services = config.get("services") or {}
    jobs = _jobs(services)
    specs = {}
    for name, svc in services.items():
        deploy = svc.get("deploy") or {}
        build = _build(svc.get("build"))
        replicas = deploy.get("replicas", svc.get("scale", 1))
        image = svc.get("image")
        if image is None and build is not None and project:
            image = f"{project}-{name}"  # what Compose names the image it builds
        specs[name] = ServiceSpec(
            name=name,
            image=image,
            build=build,
            replicas=int(replicas if replicas is not None else 1),
            container_name=svc.get("container_name"),
            ports=tuple(port_entry(port) for port in svc.get("ports") or []),
            update_config=deploy.get("update_config") or {},
            rollback_config=deploy.get("rollback_config") or {},
            stop_grace_period=parse_duration(svc.get("stop_grace_period"), 10.0),
            networks=() if svc.get("network_mode") else tuple(svc.get("networks") or ()),
            network_parent=_network_parent(svc.get("network_mode")),
            named_volumes=_named_volumes(svc.get("volumes") or []),
            host_network=svc.get("network_mode") == "host",
            job=name in jobs,
        )
    return specs


def _jobs(services: Mapping[str, Any]) -> set[str]:
    """The services another one waits for to complete (`depends_on` with the condition
    `service_completed_successfully`): one-shot jobs, such as a migration."""
    return {
        needed
        for svc in services.values()
        for needed, how in (svc.get("depends_on") or {}).items()
        if isinstance(how, Mapping) and how.get("condition") == "service_completed_successfully"
    }


def _named_volumes(mounts: list[Mapping[str, Any]]) -> tuple[str, ...]:
    """The named volumes among a service's mounts, read-write (not anonymous ones)."""
    return tuple(
        str(mount["source"])
        for mount in mounts
        if mount.get("type") == "volume" and mount.get("source") and not mount.get("read_only")
    )


def _network_parent(mode: object) -> str | None:
    """X of `network_mode: service:X`, else None."""
    text = str(mode or "")
    return text.removeprefix("service:") if text.startswith("service:") else None


def _build(build: object) -> BuildSection | None:
    if not isinstance(build, Mapping) or not build.get("context"):
        return None
    args = build.get("args") or {}
    return BuildSection(
        context=str(build["context"]),
        dockerfile=str(build.get("dockerfile") or "Dockerfile"),
        target=build.get("target") or None,
        args={str(k): str(v) for k, v in args.items() if v is not None},
        inline=build.get("dockerfile_inline") or None,
        contexts=tuple(map(str, build.get("additional_contexts") or ())),
    )


def port_entry(port: Mapping[str, Any]) -> PublishedPort:
    """A `ports:` entry; 0 as the published port counts as ephemeral, and so does a range
    (`host_range` keeps it: each container takes one of its ports)."""
    published = str(port.get("published") or "")
    fixed = published.isdigit() and published != "0"
    first, dash, last = published.partition("-")
    ranged = dash and first.isdigit() and last.isdigit()
    return PublishedPort(
        target=int(port.get("target") or 0),
        published=int(published) if fixed else None,
        host_ip=str(port.get("host_ip") or ""),
        protocol=str(port.get("protocol") or "tcp"),
        host_range=(int(first), int(last)) if ranged else None,
    )
