"""The parts of a resolved Compose model that agentlab cares about, per service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the resolved compose model (user files plus the agentlab override)."""

    name: str
    image: str | None
    build_context: str | None
    replicas: int
    container_name: str | None = None
    fixed_host_ports: tuple[str, ...] = ()
    has_healthcheck: bool = False
    update_config: Mapping[str, Any] = field(default_factory=dict)
    rollback_config: Mapping[str, Any] = field(default_factory=dict)
    stop_grace_period: float = 10.0
    depends_on: tuple[str, ...] = ()

    @property
    def repository(self) -> str | None:
        """The image reference without its tag (`registry:5000/a/b:1` -> `registry:5000/a/b`)."""
        if self.image is None:
            return None
        return split_image_ref(self.image)[0]

    @property
    def tag(self) -> str | None:
        return None if self.image is None else split_image_ref(self.image)[1]

    def surge_blockers(self) -> list[str]:
        """Why this service cannot run extra replicas side by side (empty when it can)."""
        reasons = []
        if self.container_name:
            reasons.append(f"container_name '{self.container_name}' allows one container only")
        if self.fixed_host_ports:
            ports = ", ".join(self.fixed_host_ports)
            reasons.append(f"fixed host port {ports} can be bound by one container only")
        return reasons


def split_image_ref(ref: str) -> tuple[str, str]:
    """Split `repo[:tag][@digest]` into (repo, tag); the tag defaults to `latest`."""
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def parse_duration(value: object, default: float = 0.0) -> float:
    """Seconds from a Compose duration: `1m30s`, `500ms`, `2s`, a number of seconds, or None."""
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        char = text[i]
        if char.isdigit() or char == ".":
            number += char
            i += 1
            continue
        unit = next(
            (u for u in ("ms", "us", "µs", "ns", "h", "m", "s") if text.startswith(u, i)), None
        )
        if unit is None or not number:
            raise ValueError(f"malformed duration '{text}'")
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    if number:
        total += float(number)
    return total


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
            has_healthcheck=_has_healthcheck(svc.get("healthcheck")),
            update_config=deploy.get("update_config") or {},
            rollback_config=deploy.get("rollback_config") or {},
            stop_grace_period=parse_duration(svc.get("stop_grace_period"), 10.0),
            depends_on=tuple(svc.get("depends_on") or ()),
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


def _has_healthcheck(check: Mapping[str, Any] | None) -> bool:
    if not check or check.get("disable"):
        return False
    return list(check.get("test") or []) not in ([], ["NONE"])
