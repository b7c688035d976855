"""Environments: the same lab run side by side as one compose project each (`-e ENV`).

`agentlab.yaml`'s `environments:` names them, with their host ports and version policy;
without that section they are `dev`, `staging` and `prod`. No `-e` is the environment
`default`: the project as it always was, with no environment policy.

```yaml
environments:
  dev: {policy: {allow_prerelease: true}}
  prod:
    ports: fixed        # publish the compose file's host ports (default: ephemeral)
    policy: {allow_prerelease: false, allow_latest: false, allow_non_semver: false,
             require_lock: true}   # run only digests agentlab.lock records
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from agentlab.common.errors import BadInput
from agentlab.versions import LATEST, try_version

DEFAULT_ENVIRONMENT = "default"  # no -e: the project itself (and the lock's section name)
PortMode = Literal["ephemeral", "fixed"]
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,30}")


@dataclass(frozen=True)
class EnvironmentPolicy:
    """Which versions an environment accepts, on top of the project's `policy:`.
    Requirements between services (`io.agentlab.requires`) are checked everywhere."""

    allow_prerelease: bool = True  # 1.4.0-rc.1, 1.5.1-dev.3+g1a2b3c4 (and .dirty builds)
    allow_latest: bool = True
    allow_non_semver: bool = True
    require_lock: bool = False  # run only images whose digest agentlab.lock records

    def refusal(self, environment: str, tag: str) -> str | None:
        """Why `environment` refuses the version `tag`, or None when it accepts it."""
        if tag == LATEST:
            return None if self.allow_latest else f"{environment} refuses '{LATEST}'"
        version = try_version(tag)
        if version is None:
            return None if self.allow_non_semver else f"{environment} refuses non-semver '{tag}'"
        if version.prerelease and not self.allow_prerelease:
            return f"{environment} refuses the prerelease {tag}"
        return None


STRICT = EnvironmentPolicy(allow_prerelease=False, allow_latest=False, allow_non_semver=False)


@dataclass(frozen=True)
class Environment:
    """One environment: its name, how it publishes host ports, its version policy."""

    name: str
    ports: PortMode = "ephemeral"
    policy: EnvironmentPolicy = field(default_factory=EnvironmentPolicy)


def default_environments(registry: bool = False) -> dict[str, Environment]:
    """dev and staging accept prereleases; prod refuses them, `latest` and non-semver,
    and, in a project with a registry (where images have digests to lock), runs only the
    digests agentlab.lock records."""
    return {
        "dev": Environment("dev"),
        "staging": Environment("staging"),
        "prod": Environment("prod", policy=replace(STRICT, require_lock=registry)),
    }


def parse_environments(value: object, path: Path, registry: bool = False) -> dict[str, Environment]:
    """`environments:` of agentlab.yaml: a name per environment, each with optional
    `ports` (ephemeral or fixed) and `policy`; replaces the default three (`registry`:
    the project has one, and the default prod requires locked digests)."""
    if value is None:
        return default_environments(registry)
    if not isinstance(value, Mapping) or not value:
        raise BadInput(f"{path}: 'environments' must be a mapping of names",
                       hint="environments: {dev: {}, prod: {ports: fixed}}")  # fmt: skip
    found = {}
    for name, raw in value.items():
        name = str(name)
        if not _NAME.fullmatch(name) or name == DEFAULT_ENVIRONMENT:
            raise BadInput(f"{path}: bad environment name '{name}'",
                           hint="lower-case letters, digits, - and _; not 'default'")  # fmt: skip
        found[name] = _environment(name, raw or {}, path)
    return found


def _environment(name: str, raw: object, path: Path) -> Environment:
    where = f"{path}: environments.{name}"
    if not isinstance(raw, Mapping):
        raise BadInput(f"{where} must be a mapping", hint="{ports: ephemeral, policy: {...}}")
    unknown = sorted(set(raw) - {"ports", "policy"})
    if unknown:
        raise BadInput(f"{where}: unknown key '{unknown[0]}'", hint="ports, policy")
    ports = raw.get("ports", "ephemeral")
    if ports not in ("ephemeral", "fixed"):
        raise BadInput(f"{where}.ports must be ephemeral or fixed", hint="ports: ephemeral")
    return Environment(name, ports, _policy(raw.get("policy") or {}, where))


def _policy(raw: object, where: str) -> EnvironmentPolicy:
    known = {f.name for f in fields(EnvironmentPolicy)}
    if not isinstance(raw, Mapping):
        raise BadInput(f"{where}.policy must be a mapping", hint="{allow_prerelease: false}")
    flags: dict[str, Any] = {}
    for key, flag in raw.items():
        if key not in known:
            raise BadInput(f"{where}: unknown policy key '{key}'", hint=", ".join(sorted(known)))
        if not isinstance(flag, bool):
            raise BadInput(f"{where}.policy.{key} must be true or false", hint="e.g. false")
        flags[str(key)] = flag
    return EnvironmentPolicy(**flags)


def choose_environment(given: str | None, known: Mapping[str, Environment]) -> Environment | None:
    """The environment `-e` (or $AGENTLAB_ENV) names; None for the default one. An unknown
    name is BadInput listing the known ones."""
    if not given or given == DEFAULT_ENVIRONMENT:
        return None
    if given not in known:
        raise BadInput(
            f"unknown environment '{given}'",
            hint=f"known environments: {', '.join(known)} (agentlab.yaml's environments:)",
        )
    return known[given]
