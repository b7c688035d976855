"""Load and validate a lab's `agentlab.yaml` (every key optional; defaults otherwise)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from agentlab.common.errors import BadInput
from agentlab.common.yamlload import safe_load
from agentlab.project.environments import Environment, default_environments, parse_environments
from agentlab.project.prometheus_settings import PrometheusSettings, parse_prometheus
from agentlab.project.registry_settings import RegistrySettings, parse_registry
from agentlab.rollout.canary import CanaryPlan, build_plan
from agentlab.rollout.settings import RolloutSettings
from agentlab.versions import VersionPolicy, parse_version

SETTINGS_FILE = "agentlab.yaml"
TOP_LEVEL_KEYS = {
    "project",
    "primary",
    "managed",
    "policy",
    "rollout",
    "history",
    "catalogue",
    "traffic",
    "traffic_layer",
    "canary",
    "prometheus",
    "registry",
    "environments",
}


@dataclass(frozen=True)
class VersionRecipe:
    """How to build one catalogue version: extra build args, labels and a teaching note."""

    args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class CatalogueEntry:
    """The buildable versions of one service's image."""

    service: str
    image: str
    context: Path
    versions: Mapping[str, VersionRecipe]
    dockerfile: str | None = None  # absolute; written relative to the context


@dataclass(frozen=True)
class TrafficTarget:
    """Where `agentlab traffic` sends requests: a service's published port and a path."""

    service: str = "gateway"
    port: int = 8080
    path: str = "/"


@dataclass(frozen=True)
class LayerSpec:
    """A service behind agentlab's traffic layer: its published ports move to the proxy
    (or, for a service that publishes none, `ports` are published through it), bound to
    `bind` on the host."""

    service: str
    ports: tuple[int, ...] = ()
    bind: str = "127.0.0.1"


@dataclass(frozen=True)
class LabSettings:
    """Everything `agentlab.yaml` can say; `path` is None when the file does not exist."""

    path: Path | None = None
    project: str | None = None
    primary: tuple[str, ...] = ()
    managed: tuple[str, ...] | None = None
    policy: VersionPolicy = field(default_factory=VersionPolicy)
    rollout: Mapping[str, Any] = field(default_factory=dict)
    history_keep: int = 10
    catalogue: Mapping[str, CatalogueEntry] = field(default_factory=dict)
    traffic: TrafficTarget | None = None  # None: the traffic layer's first port, or gateway
    traffic_layer: Mapping[str, LayerSpec] = field(default_factory=dict)
    # Per service: its canary (`steps`, `gates`, `analysis`), as written; a service listed
    # here rolls out as a canary unless --strategy says otherwise.
    canary: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    prometheus: PrometheusSettings | None = None  # None: no Prometheus in the lab
    registry: RegistrySettings | None = None  # None: no registry (project/registry_settings.py)
    environments: Mapping[str, Environment] = field(default_factory=default_environments)


def load_settings(compose_dir: Path) -> LabSettings:
    """Read `agentlab.yaml` beside the compose file, or return defaults when it is absent."""
    path = compose_dir / SETTINGS_FILE
    if not path.exists():
        return LabSettings()
    try:
        raw = safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise BadInput(
            f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})",
            hint="fix the file; nothing was changed",
        ) from None
    return parse_settings(raw, path)


def parse_settings(raw: object, path: Path) -> LabSettings:
    """Validate the parsed YAML document of `agentlab.yaml`."""
    if raw is None:
        return LabSettings(path=path)
    doc = _mapping(raw, path, "the document")
    unknown = sorted(set(doc) - TOP_LEVEL_KEYS)
    if unknown:
        raise BadInput(
            f"{path}: unknown key '{unknown[0]}'",
            hint=f"known keys: {', '.join(sorted(TOP_LEVEL_KEYS))}",
        )
    project = doc.get("project")
    if project is not None and not isinstance(project, str):
        raise BadInput(f"{path}: 'project' must be a string", hint="e.g. project: my-lab")
    managed = doc.get("managed")
    registry = parse_registry(doc.get("registry"), path)
    return LabSettings(
        path=path,
        project=project,
        primary=_names(doc.get("primary", []), path, "primary"),
        managed=None if managed is None else _names(managed, path, "managed"),
        policy=_policy(doc.get("policy", {}), path),
        rollout=_rollout(doc.get("rollout", {}), path),
        history_keep=_history_keep(doc.get("history", {}), path),
        catalogue=_catalogue(doc.get("catalogue", {}), path),
        traffic=_traffic(doc["traffic"], path) if "traffic" in doc else None,
        traffic_layer=_layer(doc.get("traffic_layer", {}), path),
        canary=_canary(doc.get("canary", {}), path),
        prometheus=parse_prometheus(doc.get("prometheus"), path),
        registry=registry,
        environments=parse_environments(doc.get("environments"), path, registry is not None),
    )


def _canary(value: object, path: Path) -> dict[str, Mapping[str, Any]]:
    """`canary`: service -> {steps, gates, analysis}, checked as a rollout would read it."""
    found = {}
    for service, raw in _mapping(value, path, "'canary'").items():
        entry = _mapping(raw or {}, path, f"canary.{service}")
        unknown = sorted(set(entry) - {"steps", "gates", "analysis"})
        if unknown:
            raise BadInput(f"{path}: unknown canary key '{unknown[0]}'",
                           hint="steps, gates, analysis")  # fmt: skip
        try:
            canary_settings(entry)
        except BadInput as error:
            raise BadInput(f"{path}: canary.{service}: {error.message}", hint=error.hint) from None
        found[str(service)] = entry
    return found


def canary_settings(entry: Mapping[str, Any], cli: Mapping[str, Any] | None = None) -> CanaryPlan:
    """A canary plan from agentlab.yaml's entry for a service, CLI options winning
    (`steps`, `gates`, and the analysis' `interval`, `count`, `failure_limit`,
    `min_requests`; None means not given)."""
    given = {key: value for key, value in (cli or {}).items() if value is not None}
    analysis = {**_mapping(entry.get("analysis") or {}, Path("agentlab.yaml"), "analysis")}
    analysis.update({k: given[k] for k in ("interval", "count", "failure_limit", "min_requests")
                     if k in given})  # fmt: skip
    gates = given.get("gates") or entry.get("gates") or []
    if isinstance(gates, str) or not all(isinstance(g, str) for g in gates):
        raise BadInput("gates must be a list of expressions", hint='["error_rate < 1%"]')
    return build_plan(given.get("steps", entry.get("steps")), list(gates), analysis)


def _mapping(value: object, path: Path, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadInput(f"{path}: {what} must be a mapping", hint="see compose/agentlab.yaml")
    return value


def _names(value: object, path: Path, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput(f"{path}: '{key}' must be a list of service names", hint=f"{key}: [agent]")
    return tuple(value)


def _policy(value: object, path: Path) -> VersionPolicy:
    doc = _mapping(value, path, "'policy'")
    known = {"allow_latest", "allow_non_semver"}
    for key, flag in doc.items():
        if key not in known:
            raise BadInput(f"{path}: unknown policy key '{key}'", hint=", ".join(sorted(known)))
        if not isinstance(flag, bool):
            raise BadInput(f"{path}: policy.{key} must be true or false", hint="e.g. false")
    return VersionPolicy(**doc)


def _rollout(value: object, path: Path) -> Mapping[str, Any]:
    doc = _mapping(value, path, "'rollout'")
    known = {f.name for f in fields(RolloutSettings)}
    for key in doc:
        if key not in known:
            raise BadInput(f"{path}: unknown rollout key '{key}'", hint=", ".join(sorted(known)))
    return dict(doc)


def _history_keep(value: object, path: Path) -> int:
    keep = _mapping(value, path, "'history'").get("keep", 10)
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise BadInput(f"{path}: history.keep must be a positive integer", hint="keep: 10")
    return keep


def _catalogue(value: object, path: Path) -> dict[str, CatalogueEntry]:
    entries = {}
    for service, raw_entry in _mapping(value, path, "'catalogue'").items():
        entry = _mapping(raw_entry, path, f"catalogue.{service}")
        image, context = entry.get("image"), entry.get("context")
        if not isinstance(image, str) or not isinstance(context, str):
            raise BadInput(
                f"{path}: catalogue.{service} needs 'image' and 'context' strings",
                hint="image: my/agent, context: agent",
            )
        versions = {}
        for version, recipe in _mapping(entry.get("versions", {}), path, "versions").items():
            parse_version(str(version))
            versions[str(version)] = _recipe(recipe, path, f"catalogue.{service}.{version}")
        dockerfile = entry.get("dockerfile")
        root = (path.parent / context).resolve()
        entries[str(service)] = CatalogueEntry(
            service=str(service),
            image=image,
            context=root,
            versions=versions,
            dockerfile=str(root / str(dockerfile)) if dockerfile is not None else None,
        )
    return entries


def _recipe(value: object, path: Path, where: str) -> VersionRecipe:
    doc = _mapping(value or {}, path, where)
    args = _mapping(doc.get("args", {}), path, f"{where}.args")
    labels = _mapping(doc.get("labels", {}), path, f"{where}.labels")
    return VersionRecipe(
        args={str(k): str(v) for k, v in args.items()},
        labels={str(k): str(v) for k, v in labels.items()},
        note=str(doc.get("note", "")),
    )


def _traffic(value: object, path: Path) -> TrafficTarget:
    doc = _mapping(value, path, "'traffic'")
    default = TrafficTarget()
    service, port = doc.get("service", default.service), doc.get("port", default.port)
    where = doc.get("path", default.path)
    if not isinstance(service, str) or not isinstance(port, int) or not isinstance(where, str):
        raise BadInput(
            f"{path}: traffic needs service (string), port (integer), path (string)",
            hint="traffic: {service: gateway, port: 8080, path: /}",
        )
    return TrafficTarget(service, port, where if where.startswith("/") else f"/{where}")


def _layer(value: object, path: Path) -> dict[str, LayerSpec]:
    """`traffic_layer`: a list of services, or a mapping of service to {ports, bind}."""
    if isinstance(value, list):
        value = {name: {} for name in _names(value, path, "traffic_layer")}
    specs = {}
    for service, raw in _mapping(value, path, "'traffic_layer'").items():
        entry = _mapping(raw or {}, path, f"traffic_layer.{service}")
        unknown = sorted(set(entry) - {"ports", "bind"})
        if unknown:
            raise BadInput(f"{path}: unknown traffic_layer key '{unknown[0]}'", hint="ports, bind")
        ports = entry.get("ports", [])
        bind = entry.get("bind", "127.0.0.1")
        if not isinstance(ports, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports
        ):
            raise BadInput(
                f"{path}: traffic_layer.{service}.ports must be a list of port numbers",
                hint="ports: [8000]",
            )
        if not isinstance(bind, str):
            raise BadInput(f"{path}: traffic_layer.{service}.bind must be an address",
                           hint="bind: 127.0.0.1")  # fmt: skip
        specs[str(service)] = LayerSpec(str(service), tuple(ports), bind)
    return specs
