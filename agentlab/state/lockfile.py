"""`agentlab.lock`, beside the compose file: per environment and managed service, the
version, the `image@sha256:` reference, the digest and the image's labels that
`agentlab up --locked` runs. YAML, keys sorted, one value per line: meant to be
committed and diffed. (state/lock.py is the other lock: the process lock of a project.)"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from agentlab.common.errors import BadInput
from agentlab.common.files import write_atomically
from agentlab.common.yamlload import safe_load

LOCK_FILE = "agentlab.lock"
LOCK_VERSION = 1
HEADER = (
    "# agentlab.lock: written by `agentlab lock`; commit it. "
    "`agentlab up --locked` runs these digests.\n"
)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
HINT = "write it again: agentlab lock"


@dataclass(frozen=True)
class LockedService:
    """What one service runs when locked: `image` is `repository@digest`."""

    version: str
    image: str
    digest: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def repository(self) -> str:
        return self.image.partition("@")[0]


@dataclass(frozen=True)
class LockFile:
    """The locked services of each environment ("default" without -e/--env)."""

    environments: Mapping[str, Mapping[str, LockedService]] = field(default_factory=dict)

    def section(self, environment: str) -> Mapping[str, LockedService] | None:
        return self.environments.get(environment)

    def with_section(self, environment: str, services: Mapping[str, LockedService]) -> LockFile:
        """This lock with `environment`'s section replaced (the other ones kept)."""
        return replace(self, environments={**self.environments, environment: dict(services)})


def lockfile_path(compose_dir: Path) -> Path:
    return compose_dir / LOCK_FILE


def read_lockfile(path: Path) -> LockFile | None:
    """The lock file (None when there is none); BadInput when it is damaged."""
    if not path.exists():
        return None
    try:
        doc = safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BadInput(f"{path} is not valid YAML ({exc})", hint=HINT) from None
    return parse_lockfile(doc, path)


def parse_lockfile(doc: object, path: Path) -> LockFile:
    """Validate a lock file's YAML document."""
    if not isinstance(doc, Mapping) or doc.get("lock_version") != LOCK_VERSION:
        raise BadInput(f"{path}: not a lock file of version {LOCK_VERSION}", hint=HINT)
    environments = doc.get("environments")
    environments = {} if environments is None else environments
    if not isinstance(environments, Mapping):
        raise BadInput(f"{path}: 'environments' must be a mapping", hint=HINT)
    found: dict[str, dict[str, LockedService]] = {}
    for env, section in environments.items():
        services = (section or {}).get("services") if isinstance(section, Mapping) else None
        if not isinstance(services, Mapping):
            raise BadInput(f"{path}: environment '{env}' has no 'services' mapping", hint=HINT)
        found[str(env)] = {
            str(name): _service(entry, path, f"{env}.{name}") for name, entry in services.items()
        }
    return LockFile(found)


def _service(entry: object, path: Path, where: str) -> LockedService:
    if not isinstance(entry, Mapping):
        raise BadInput(f"{path}: {where} must be a mapping", hint=HINT)
    version, image, digest = entry.get("version"), entry.get("image"), entry.get("digest")
    labels = entry.get("labels")
    labels = {} if labels is None else labels
    if not isinstance(version, str) or not isinstance(image, str) or not isinstance(digest, str):
        raise BadInput(f"{path}: {where} needs version, image and digest strings", hint=HINT)
    if not DIGEST.fullmatch(digest) or not image.endswith(f"@{digest}"):
        raise BadInput(
            f"{path}: {where}: image must be repository@{digest or 'sha256:...'}", hint=HINT
        )
    if not isinstance(labels, Mapping):
        raise BadInput(f"{path}: {where}.labels must be a mapping", hint=HINT)
    return LockedService(version, image, digest, {str(k): str(v) for k, v in labels.items()})


def dump_lockfile(lock: LockFile) -> str:
    """The lock file's text: header, version, then environments and services sorted by
    name, each service's fields in one fixed order and its labels sorted."""
    environments: dict[str, Any] = {
        env: {"services": {name: _entry(services[name]) for name in sorted(services)}}
        for env, services in sorted(lock.environments.items())
    }
    body = yaml.safe_dump({"environments": environments}, sort_keys=False,
                          default_flow_style=False, width=1000)  # fmt: skip
    return f"{HEADER}lock_version: {LOCK_VERSION}\n{body}"


def _entry(service: LockedService) -> dict[str, Any]:
    return {
        "version": service.version,
        "image": service.image,
        "digest": service.digest,
        "labels": dict(sorted(service.labels.items())),
    }


def write_lockfile(path: Path, lock: LockFile) -> None:
    write_atomically(path, dump_lockfile(lock))
