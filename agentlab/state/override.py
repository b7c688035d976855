"""The Compose override agentlab owns: pinned images and replica counts per service, and
its traffic layer (the proxy service, the ports it takes over).

The user's compose files are never edited. A revision is a snapshot of a pin. Each writer
changes the keys it owns and keeps the rest of the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentlab.common.errors import BadInput
from agentlab.common.files import write_atomically
from agentlab.common.imagerefs import fingerprint
from agentlab.state.directory import usable_directory

HEADER = (
    "# Written by agentlab: the pinned image of each managed service, the replica count\n"
    "# `agentlab scale` set (as both `scale` and `deploy.replicas`, which Compose requires to\n"
    "# agree), and agentlab's traffic layer. Editing a tag here while `agentlab watch` runs\n"
    "# rolls that service out.\n"
)
EXTENSION = "x-agentlab"  # Compose ignores top-level x- keys: agentlab's own record
LAYER_PREFIX = "agentlab-"  # agentlab's own services (traffic layer, registry) and configs
REGISTRY_SERVICE = "agentlab-registry"  # the lab's registry (lab/registry.py)


class Reset:
    """A YAML `!reset` value: Compose drops what the files before said (e.g. `ports`)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reset) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


class Replaced:
    """A YAML `!override` list: Compose takes it instead of what the files before said
    (an environment's own host ports)."""

    def __init__(self, value: list[Any]) -> None:
        self.value = value

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Replaced) and other.value == self.value


class _Loader(yaml.SafeLoader):
    """Reads Compose's `!reset` and `!override` tags."""


class _Dumper(yaml.SafeDumper):
    """Writes Reset as `!reset`."""


def _construct_reset(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    if isinstance(node, yaml.SequenceNode):
        return Reset(loader.construct_sequence(node))
    if isinstance(node, yaml.MappingNode):
        return Reset(loader.construct_mapping(node))
    return Reset(None)


def _construct_override(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """A list stays a Replaced (written back as `!override`); anything else, its value."""
    if isinstance(node, yaml.SequenceNode):
        return Replaced(loader.construct_sequence(node, deep=True))
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    """Multi-line strings (the proxy's configuration) as readable literal blocks."""
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Loader.add_constructor("!reset", _construct_reset)
_Dumper.add_representer(str, _represent_text)
_Loader.add_constructor("!override", _construct_override)
_Dumper.add_representer(
    Replaced, lambda dumper, replaced: dumper.represent_sequence("!override", replaced.value)
)
_Dumper.add_representer(
    Reset,
    lambda dumper, reset: (
        dumper.represent_sequence("!reset", reset.value or [])
        if isinstance(reset.value, list | None)
        else dumper.represent_mapping("!reset", reset.value)
    ),
)


@dataclass(frozen=True)
class MovedPort:
    """A port a service published, published by agentlab's traffic layer instead (or one
    it publishes for a service that published none)."""

    service: str
    target: int
    published: int | None  # None: an ephemeral host port
    host_ip: str = ""


@dataclass(frozen=True)
class Override:
    """What the override says: pinned images and replica counts per service, and the
    ports agentlab's traffic layer took over."""

    pins: dict[str, str] = field(default_factory=dict)
    scales: dict[str, int] = field(default_factory=dict)
    moved_ports: tuple[MovedPort, ...] = ()
    own_images: dict[str, str] = field(default_factory=dict)  # agentlab's own services'
    # the fingerprint of the image the user's files gave each service when agentlab pinned
    # it: an edit of the files since (the image is another now) asks for it over the pin
    pinned_over: dict[str, str] = field(default_factory=dict)
    # the fingerprint of the image agentlab last pinned each service to, whichever agentlab
    # process wrote it: a pin that differs from it was edited by hand
    written: dict[str, str] = field(default_factory=dict)

    def pinned_by_agentlab(self, service: str) -> bool:
        """Whether the service's pin is the one agentlab wrote (no hand edit since)."""
        pin, written = self.pins.get(service), self.written.get(service)
        return pin is not None and written is not None and fingerprint(pin) == written

    @property
    def traffic_layer(self) -> tuple[str, ...]:
        """The services behind the traffic layer."""
        return tuple(dict.fromkeys(port.service for port in self.moved_ports))


def _document(path: Path) -> dict[str, Any]:
    """The override as YAML data ({} when it does not exist yet)."""
    if not path.exists():
        return {}
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"{path} is not valid YAML ({exc})", hint="fix or delete it") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise BadInput(f"{path} has no 'services' mapping", hint="fix or delete it")
    return doc


def read_override(path: Path) -> Override:
    """The override's pins, scales and traffic layer (empty when it does not exist yet)."""
    doc = _document(path)
    pins: dict[str, str] = {}
    scales: dict[str, int] = {}
    own: dict[str, str] = {}
    for name, spec in (doc.get("services") or {}).items():
        spec = spec if isinstance(spec, Mapping) else {}
        image, scale = spec.get("image"), spec.get("scale")
        if not ({"image", "scale", "ports"} & set(spec)) or (
            image is not None and not isinstance(image, str)
        ):
            raise BadInput(f"{path}: service '{name}' has no image string", hint="fix it")
        if scale is not None and (not isinstance(scale, int) or scale < 0):
            raise BadInput(f"{path}: service '{name}' has a bad scale {scale!r}", hint="fix it")
        if image is not None:
            (own if str(name).startswith(LAYER_PREFIX) else pins)[str(name)] = image
        if scale is not None:
            scales[str(name)] = scale
    extension = doc.get(EXTENSION) or {}
    over, written = _images(path, extension, "pinned_over"), _images(path, extension, "written")
    moved = []
    for entry in extension.get("moved_ports") or []:
        try:
            port = MovedPort(str(entry["service"]), int(entry["target"]), entry.get("published"),
                             str(entry.get("host_ip", "")))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            raise BadInput(f"{path}: {EXTENSION}.moved_ports is damaged",
                           hint="fix or delete it") from None  # fmt: skip
        moved.append(port)
    return Override(pins, scales, tuple(moved), own, over, written)


def _images(path: Path, extension: Any, key: str) -> dict[str, str]:
    """A fingerprint of an image per service, as agentlab's record keeps it (an older
    agentlab kept the reference in parts: {repository, tag, digest})."""
    try:
        return {str(k): v if isinstance(v, str) else fingerprint(_joined(v))
                for k, v in (extension.get(key) or {}).items()}  # fmt: skip
    except (AttributeError, KeyError, TypeError):
        raise BadInput(f"{path}: {EXTENSION}.{key} is damaged", hint="fix or delete it") from None


def _joined(parts: Mapping[str, str]) -> str:
    """The reference an older agentlab kept in parts."""
    digest = f"@{parts['digest']}" if parts.get("digest") else ""
    return f"{parts['repository']}:{parts['tag']}{digest}"


def read_pins(path: Path) -> dict[str, str]:
    """The pinned image per service ({} when the override does not exist yet)."""
    return read_override(path).pins


def update_override(
    path: Path,
    pins: Mapping[str, str] | None = None,
    scales: Mapping[str, int] | None = None,
    over: Mapping[str, str] | None = None,
) -> None:
    """Set some pins and scales, keeping the rest of the override (callers hold the lock);
    `over`: the files' image each pin is written over (see Override.pinned_over). Each pin
    is recorded as agentlab's (Override.written)."""
    read_override(path)  # refuses a broken file before it is rewritten
    doc = _document(path) or {"services": {}}
    services = doc["services"]
    for name, image in (pins or {}).items():
        services.setdefault(name, {}).update({"image": image, "pull_policy": "never"})
    for key, images in (("pinned_over", over), ("written", pins)):
        if images:
            extension = doc.setdefault(EXTENSION, {})
            kept = {name: fingerprint(image) for name, image in images.items()}
            extension[key] = {**(extension.get(key) or {}), **kept}
    for name, scale in (scales or {}).items():
        services.setdefault(name, {}).update({"scale": scale, "deploy": {"replicas": scale}})
    _write(path, doc)


def set_traffic_layer(
    path: Path, moved: tuple[MovedPort, ...], fragment: Mapping[str, Any]
) -> None:
    """Make the override's traffic layer `fragment` (Compose keys: services, configs), which
    took over the `moved` ports, replacing the one it had; pins and scales stay."""
    read_override(path)
    doc = _document(path) or {"services": {}}
    for name in list(doc["services"]):
        entry = doc["services"][name]
        if name == REGISTRY_SERVICE:
            continue
        if name.startswith(LAYER_PREFIX):
            del doc["services"][name]
        elif isinstance(entry, dict):
            entry.pop("ports", None)
            if not entry:
                del doc["services"][name]
    configs = {
        k: v for k, v in (doc.get("configs") or {}).items() if not k.startswith(LAYER_PREFIX)
    }
    for name, entry in (fragment.get("services") or {}).items():
        doc["services"].setdefault(name, {}).update(entry)
    configs.update(fragment.get("configs") or {})
    if configs:
        doc["configs"] = configs
    else:
        doc.pop("configs", None)
    extension = {k: v for k, v in (doc.get(EXTENSION) or {}).items() if k != "moved_ports"}
    if moved:
        extension["moved_ports"] = [dict(vars(port)) for port in moved]
    if extension:
        doc[EXTENSION] = extension
    else:
        doc.pop(EXTENSION, None)
    _write(path, doc)


def set_registry(path: Path, service: Mapping[str, Any], volume: str) -> None:
    """Make the override run the lab's registry as `service`, storing in the named `volume`."""
    read_override(path)
    doc = _document(path) or {"services": {}}
    doc["services"][REGISTRY_SERVICE] = dict(service)
    doc["volumes"] = {**(doc.get("volumes") or {}), volume: {}}
    _write(path, doc)


def registry_service(path: Path) -> dict[str, Any] | None:
    """The registry's service entry in the override (None: no registry yet)."""
    entry = (_document(path).get("services") or {}).get(REGISTRY_SERVICE)
    return dict(entry) if isinstance(entry, Mapping) else None


def registry_port(path: Path) -> int | None:
    """The host port the override publishes the registry on (None: no registry yet)."""
    for port in (registry_service(path) or {}).get("ports") or []:
        return int(str(port).split(":")[-2])
    return None


def set_ports(path: Path, ports: Mapping[str, list[dict[str, Any]]]) -> None:
    """Publish these ports instead of the services' own (an environment's: `!override`
    for the user's services, a plain list for agentlab's own, which the override defines)."""
    read_override(path)
    doc = _document(path) or {"services": {}}
    for name, entries in ports.items():
        value = entries if name.startswith(LAYER_PREFIX) else Replaced(entries)
        doc["services"].setdefault(name, {})["ports"] = value
    _write(path, doc)


def drop_replaced_ports(path: Path) -> list[str]:
    """Give the user's services their own ports back (an environment's `!override`s
    removed, written only when there were some); the services that had them."""
    read_override(path)
    doc = _document(path)
    services = doc.get("services") or {}
    given_back = [
        name
        for name, spec in services.items()
        if isinstance(spec, dict) and isinstance(spec.get("ports"), Replaced)
    ]
    for name in given_back:
        del services[name]["ports"]
        if not services[name]:
            del services[name]
    if given_back:
        _write(path, doc)
    return given_back


def _write(path: Path, doc: Mapping[str, Any]) -> None:
    """Atomically replace the override (temp file, fsync, rename)."""
    text = yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=True, default_flow_style=False)
    usable_directory(path.parent)
    write_atomically(path, HEADER + text)
