"""The Compose override agentlab owns: one pinned image per service.

The user's compose files are never edited. A revision is a snapshot of a pin.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from agentlab.errors import BadInput

HEADER = (
    "# Written by agentlab: the pinned image of each managed service.\n"
    "# Editing a tag here while `agentlab watch` runs rolls that service out.\n"
)


def read_pins(path: Path) -> dict[str, str]:
    """The pinned image per service ({} when the override does not exist yet)."""
    if not path.exists():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"{path} is not valid YAML ({exc})", hint="fix or delete it") from None
    services = doc.get("services") if isinstance(doc, Mapping) else None
    if not isinstance(services, Mapping):
        raise BadInput(f"{path} has no 'services' mapping", hint="fix or delete it")
    pins = {}
    for name, spec in services.items():
        if not isinstance(spec, Mapping) or not isinstance(spec.get("image"), str):
            raise BadInput(f"{path}: service '{name}' has no image string", hint="fix it")
        pins[str(name)] = spec["image"]
    return pins


def write_pins(path: Path, pins: Mapping[str, str]) -> None:
    """Atomically replace the override with these pins (temp file, fsync, rename)."""
    doc = {
        "services": {
            name: {"image": image, "pull_policy": "never"} for name, image in sorted(pins.items())
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".override-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(HEADER)
            yaml.safe_dump(doc, out, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
