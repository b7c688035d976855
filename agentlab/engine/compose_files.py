"""The cache of `compose config`, and what invalidates it: the files a Compose project
reads besides the `-f` ones (`include`d and `extends`ed compose files and `env_file`s,
found in the raw YAML: `compose config` merges them away), .env, and the variables they
interpolate."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from agentlab.common.files import write_atomically
from agentlab.common.yamlload import safe_load

_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def cached_config(
    cache: Path | None, key: list[Any], read: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The config `cache` holds under `key`, else `read()`'s, written to `cache` when its
    directory exists (a read-only command on a project never started creates none)."""
    try:
        cached = json.loads(cache.read_text(encoding="utf-8")) if cache else None
    except (OSError, ValueError):
        cached = None
    if isinstance(cached, dict) and cached.get("key") == key and "config" in cached:
        config: dict[str, Any] = cached["config"]
        return config
    config = read()
    if cache is not None and cache.parent.is_dir():
        with contextlib.suppress(OSError):  # a cache: not writing it is no error
            write_atomically(cache, json.dumps({"key": key, "config": config}))
    return config


def config_key(project: str, files: list[Path], user_files: list[Path]) -> list[Any]:
    """What `compose config` depends on: each file's identity (the `files` given with -f,
    the ones the user's files include, extend or take env_file from, and .env beside the
    first), and the environment variables the files mention (plus COMPOSE_*)."""
    paths = [*files, user_files[0].parent / ".env"]
    paths += [path for path in referenced_files(user_files) if path not in paths]
    stamps: list[list[Any]] = []
    names: set[str] = set()
    for path in paths:
        try:
            stat = path.stat()
            names |= set(_VARIABLE.findall(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeError):
            stamps.append([str(path), None])
            continue
        stamps.append([str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size])
    names |= {name for name in os.environ if name.startswith("COMPOSE_")}
    return [project, stamps, [[n, os.environ.get(n)] for n in sorted(names)]]


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
        doc = safe_load(path.read_text(encoding="utf-8"))
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
