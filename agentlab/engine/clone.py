"""Another replica of a service as a copy of one Compose has just created.

A rollout adds replicas one batch at a time. `docker compose up --scale` costs a process
start, a project load and a container listing on top of the engine's own create and start
(0.15-0.3 s each time on a 2-CPU machine, more under load), which is most of the gap
between two steps. The first replica of a rollout phase is always Compose's; the next ones
copy its create request (Config, HostConfig, network endpoints) with the replica's own
name, number and aliases, which is what Compose itself would send again: the config-hash
label stays true, so a later `compose up` keeps them. Services whose containers Compose
changes after creating them (configs and secrets copied in, lifecycle hooks, static
addresses, links numbered per replica, another container's network namespace, anything
this module does not know) are never copied.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

NUMBER_LABEL = "com.docker.compose.container-number"
REPLACE_LABEL = "com.docker.compose.replace"
ANONYMOUS_VOLUME = re.compile(r"[0-9a-f]{64}")  # the engine names a volume with no name so

# Service keys of `compose config` that end up whole in the container's create request.
CLONABLE_KEYS = frozenset({
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup",
    "cgroup_parent", "command", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota",
    "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "depends_on", "deploy",
    "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname",
    "entrypoint", "environment", "expose", "extra_hosts", "gpus",
    "group_add", "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels",
    "logging", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit",
    "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit",
    "platform", "ports", "privileged", "profiles", "pull_policy", "read_only", "restart",
    "runtime", "scale", "security_opt", "shm_size", "stdin_open", "stop_grace_period",
    "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "user",
    "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
})  # fmt: skip
# Per-network settings of `compose config` that every replica shares (fixed addresses do not).
CLONABLE_NETWORK_KEYS = frozenset({"aliases", "driver_opts", "gw_priority", "priority"})
# Endpoint settings of an inspect document that Compose sets the same on every replica.
_SHARED_ENDPOINT_KEYS = ("Links", "DriverOpts", "GwPriority")


@dataclass(frozen=True)
class CloneRequest:
    """What to send the engine: create `name` with `body`, connect `networks`, start."""

    name: str
    body: dict[str, Any]
    networks: dict[str, dict[str, Any]]  # more networks than the one given at create


def clonable(service: Mapping[str, Any]) -> bool:
    """True when copying a replica of this service (its `compose config` entry) makes the
    same container Compose would make."""
    if any(key not in CLONABLE_KEYS and not key.startswith("x-") for key in service):
        return False
    if str(service.get("network_mode", "")).startswith(("service:", "container:")):
        return False  # the engine refuses a hostname or ports there, which inspect shows
    networks = service.get("networks") or {}
    return all(
        settings is None or set(settings) <= CLONABLE_NETWORK_KEYS for settings in networks.values()
    )


def clone_request(
    template: Mapping[str, Any], number: int, drop_aliases: Collection[str] = ()
) -> CloneRequest | None:
    """The request for replica `number` copied from `template` (an inspect document of a
    replica Compose created), without the `drop_aliases` (the service's DNS names, for a
    replica that joins them once ready); None when its name does not end in its number
    (a fixed container_name: such a service cannot have two replicas)."""
    config = dict(template["Config"])
    labels = dict(config.get("Labels") or {})
    old_name = str(template["Name"]).lstrip("/")
    old_number = labels.get(NUMBER_LABEL, "")
    match = re.fullmatch(r"(.+[-_])" + re.escape(old_number), old_name) if old_number else None
    if match is None:
        return None
    name = f"{match.group(1)}{number}"
    short_id = str(template["Id"])[:12]
    labels[NUMBER_LABEL] = str(number)
    labels.pop(REPLACE_LABEL, None)
    config["Labels"] = labels
    if config.get("Hostname") == short_id:  # the engine's default, not the user's hostname
        del config["Hostname"]
    config.pop("MacAddress", None)
    host_config = dict(template["HostConfig"])
    if host_config.get("Mounts"):
        host_config["Mounts"] = [_own_volume(mount) for mount in host_config["Mounts"]]
    networks = (template.get("NetworkSettings") or {}).get("Networks") or {}
    endpoints = {
        network: _endpoint(settings, old_name, short_id, name, drop_aliases)
        for network, settings in networks.items()
    }
    first = str(host_config.get("NetworkMode", ""))
    at_create = {first: endpoints.pop(first)} if first in endpoints else {}
    body = {**config, "HostConfig": host_config, "NetworkingConfig": {"EndpointsConfig": at_create}}
    return CloneRequest(name, body, endpoints)


def _own_volume(mount: Mapping[str, Any]) -> Mapping[str, Any]:
    """A mount for the new replica: an anonymous volume of its own where the template
    mounts one by name (Compose passes a recreated replica its predecessor's anonymous
    volumes, its image's VOLUMEs too; copies would share them)."""
    if mount.get("Type") == "volume" and ANONYMOUS_VOLUME.fullmatch(str(mount.get("Source", ""))):
        return {key: value for key, value in mount.items() if key != "Source"}
    return mount


def _endpoint(
    settings: Mapping[str, Any],
    old_name: str,
    short_id: str,
    name: str,
    drop_aliases: Collection[str],
) -> dict[str, Any]:
    """The endpoint settings Compose gave the template, for the new replica."""
    skipped = {short_id, *drop_aliases}
    aliases = [a for a in settings.get("Aliases") or [] if a not in skipped]
    aliases = [name if alias == old_name else alias for alias in aliases]
    endpoint: dict[str, Any] = {"Aliases": aliases}
    for key in _SHARED_ENDPOINT_KEYS:
        if settings.get(key):
            endpoint[key] = settings[key]
    return endpoint
