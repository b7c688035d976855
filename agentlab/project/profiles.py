"""The profiles a service of the compose files is in, read from the files as written: a
service in a profile that is not active is absent from `compose config`, and a command
naming it says so instead of calling it unknown."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from agentlab.common.yamlload import safe_load


def profiles_of(compose_files: Sequence[Path], service: str) -> list[str]:
    """The `profiles:` of `service` in the first compose file that defines it ([] when
    none does, or it has none)."""
    for path in compose_files:
        try:
            doc = safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeError, yaml.YAMLError):
            continue
        services = doc.get("services") if isinstance(doc, dict) else None
        entry = services.get(service) if isinstance(services, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get("profiles"), list):
            return [str(profile) for profile in entry["profiles"]]
    return []
