"""How the fake engine reads agentlab's override file, as Compose would."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agentlab.engine.compose_model import port_entry
from agentlab.engine.model import PublishedPort


@dataclass
class OverrideSettings:
    """Per service: the image, replica count and host ports the override gives."""

    images: dict[str, str] = field(default_factory=dict)
    scales: dict[str, int] = field(default_factory=dict)
    ports: dict[str, tuple[PublishedPort, ...]] = field(default_factory=dict)


def read_override(path: Path | None) -> OverrideSettings:
    """The override's settings; none when there is no file, or it does not parse (a hand
    edit: agentlab itself refuses to act on it)."""
    found = OverrideSettings()
    if path is None or not path.exists():
        return found
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), _ComposeTags) or {}
    except yaml.YAMLError:
        return found
    services = doc.get("services") if isinstance(doc, dict) else None
    for name, spec in services.items() if isinstance(services, dict) else ():
        if not isinstance(spec, dict):
            continue
        if isinstance(spec.get("image"), str):
            found.images[name] = spec["image"]
        if isinstance(spec.get("scale"), int):
            found.scales[name] = spec["scale"]
        ports = spec.get("ports")
        if ports and isinstance(ports, list) and all(isinstance(p, dict) for p in ports):
            found.ports[name] = tuple(port_entry(entry) for entry in ports)
    return found


class _ComposeTags(yaml.SafeLoader):
    """Reads an override as Compose does: `!reset` drops a value, `!override` replaces it."""


_ComposeTags.add_constructor("!reset", lambda loader, node: [])
_ComposeTags.add_constructor(
    "!override",
    lambda loader, node: loader.construct_sequence(node, deep=True),  # type: ignore[arg-type]
)
