"""What a compose file asks that an older engine cannot do, found before Compose creates
anything: Compose creates the project's networks, then fails at its first container."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A service's (section, key), the engine API version it needs, and that Docker release.
_NEEDS = ((("healthcheck", "start_interval"), (1, 44), "25"),)


def unsupported(config: Mapping[str, Any], api_version: str) -> list[str]:
    """One line per service and key of `compose config` JSON this engine cannot run;
    none when the engine's API version is unknown."""
    try:
        have = tuple(int(part) for part in api_version.split("."))
    except ValueError:
        return []
    lines = []
    for name, entry in sorted((config.get("services") or {}).items()):
        for (section, key), needed, release in _NEEDS:
            if have < needed and key in ((entry or {}).get(section) or {}):
                lines.append(f"{name}: {section}.{key} needs Docker Engine {release} or later "
                             f"(API {'.'.join(map(str, needed))}; this engine's is "
                             f"{api_version})")  # fmt: skip
    return lines
