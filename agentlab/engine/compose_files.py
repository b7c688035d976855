"""The files a Compose project reads besides the `-f` ones: `include`d and `extends`ed
compose files and `env_file`s, found in the raw YAML (`compose config` merges them away),
so that a cache of `compose config` is invalidated when any of them changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def referenced_files(compose_files: list[Path]) -> list[Path]:
    """Every file the compose files refer to, recursively (paths with variables in them
    are left out: their value is in the cache key's variables)."""
    found: dict[Path, None] = {}
    pending = list(compose_files)
    seen: set[Path] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for kind, referenced in _references(path):
            found[referenced] = None
            if kind == "compose":
                pending.append(referenced)
    return list(found)


def _references(path: Path) -> Iterator[tuple[str, Path]]:
    """("compose" | "env", path) for each file `path` names."""
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeError, yaml.YAMLError):
        return
    if not isinstance(doc, dict):
        return
    here = path.parent
    for entry in _as_list(doc.get("include")):
        if isinstance(entry, dict):
            for name in _as_list(entry.get("path")):
                yield from _resolved("compose", here, name)
            for name in _as_list(entry.get("env_file")):
                yield from _resolved("env", here, name)
        else:
            yield from _resolved("compose", here, entry)
    services = doc.get("services")
    for service in services.values() if isinstance(services, dict) else ():
        if not isinstance(service, dict):
            continue
        extends = service.get("extends")
        if isinstance(extends, dict):
            yield from _resolved("compose", here, extends.get("file"))
        for entry in _as_list(service.get("env_file")):
            yield from _resolved(
                "env", here, entry.get("path") if isinstance(entry, dict) else entry
            )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _resolved(kind: str, directory: Path, name: Any) -> Iterator[tuple[str, Path]]:
    if isinstance(name, str) and name and "$" not in name:
        yield kind, (directory / name).resolve()
