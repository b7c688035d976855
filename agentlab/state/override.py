"""The Compose override agentlab owns: pinned images and replica counts per service.

The user's compose files are never edited. A revision is a snapshot of a pin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agentlab.common.errors import BadInput
from agentlab.common.files import write_atomically

HEADER = (
    "# Written by agentlab: the pinned image of each managed service, and the replica count\n"
    "# `agentlab scale` set (as both `scale` and `deploy.replicas`, which Compose requires to\n"
    "# agree). Editing a tag here while `agentlab watch` runs rolls that service out.\n"
)


@dataclass(frozen=True)
class Override:
    """What the override says: pinned images and replica counts, per service."""

    pins: dict[str, str] = field(default_factory=dict)
    scales: dict[str, int] = field(default_factory=dict)


def read_override(path: Path) -> Override:
    """The override's pins and scales (empty when it does not exist yet)."""
    if not path.exists():
        return Override()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"{path} is not valid YAML ({exc})", hint="fix or delete it") from None
    services = doc.get("services") if isinstance(doc, Mapping) else None
    if not isinstance(services, Mapping):
        raise BadInput(f"{path} has no 'services' mapping", hint="fix or delete it")
    pins: dict[str, str] = {}
    scales: dict[str, int] = {}
    for name, spec in services.items():
        image = spec.get("image") if isinstance(spec, Mapping) else None
        scale = spec.get("scale") if isinstance(spec, Mapping) else None
        if (image is None and scale is None) or (image is not None and not isinstance(image, str)):
            raise BadInput(f"{path}: service '{name}' has no image string", hint="fix it")
        if scale is not None and (not isinstance(scale, int) or scale < 0):
            raise BadInput(f"{path}: service '{name}' has a bad scale {scale!r}", hint="fix it")
        if image is not None:
            pins[str(name)] = image
        if scale is not None:
            scales[str(name)] = scale
    return Override(pins, scales)


def read_pins(path: Path) -> dict[str, str]:
    """The pinned image per service ({} when the override does not exist yet)."""
    return read_override(path).pins


def update_override(
    path: Path, pins: Mapping[str, str] | None = None, scales: Mapping[str, int] | None = None
) -> None:
    """Set some pins and scales, keeping the rest of the override (callers hold the lock)."""
    current = read_override(path)
    write_override(
        path, Override({**current.pins, **(pins or {})}, {**current.scales, **(scales or {})})
    )


def write_override(path: Path, override: Override) -> None:
    """Atomically replace the override (temp file, fsync, rename)."""
    services: dict[str, dict[str, object]] = {}
    for name, image in override.pins.items():
        services[name] = {"image": image, "pull_policy": "never"}
    for name, scale in override.scales.items():
        services.setdefault(name, {}).update({"scale": scale, "deploy": {"replicas": scale}})
    write_atomically(path, HEADER + yaml.safe_dump({"services": services}, sort_keys=True))
