"""Inspect documents (the JSON `docker inspect` prints) as typed replicas and images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from agentlab.engine.clone import NUMBER_LABEL
from agentlab.engine.model import VERSION_LABEL, ContainerImage, Healthcheck, ImageInfo, Replica

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"


def project_labels(project: str, service: str | None = None) -> list[str]:
    """The labels of a project's service containers (not `compose run` one-offs)."""
    labels = [f"{PROJECT_LABEL}={project}", f"{ONEOFF_LABEL}=False"]
    if service is not None:
        labels.append(f"{SERVICE_LABEL}={service}")
    return labels


def is_service_container(item: Mapping[str, Any]) -> bool:
    labels = item.get("Config", {}).get("Labels") or {}
    return SERVICE_LABEL in labels and labels.get(ONEOFF_LABEL, "False") != "True"


def holders(
    entries: Sequence[Mapping[str, Any]], names: Sequence[str]
) -> dict[str, dict[str, str]]:
    """Of `names`, those these `docker ps` entries hold (Docker's names start with "/"):
    name -> the holder's labels."""
    wanted = set(names)
    return {
        name.lstrip("/"): dict(entry.get("Labels") or {})
        for entry in entries
        for name in entry.get("Names") or []
        if name.lstrip("/") in wanted
    }


def container_image(
    item: Mapping[str, Any], created_ref: str | None = None
) -> ContainerImage | None:
    """A container list entry (`GET /containers/json`) as what it runs; None for one that
    is not running or not a service's. `created_ref`: the reference it was created with
    (its inspect's Config.Image), for an entry that `shows_image_id`."""
    labels = item.get("Labels") or {}
    if item.get("State") != "running" or SERVICE_LABEL not in labels:
        return None
    if labels.get(ONEOFF_LABEL, "False") == "True":
        return None
    image_id = str(item.get("ImageID") or "")
    version = labels.get(VERSION_LABEL)
    ref = created_ref or str(item.get("Image") or "")
    return ContainerImage(labels[SERVICE_LABEL], ref, image_id, version)


def shows_image_id(item: Mapping[str, Any]) -> bool:
    """Whether a container list entry shows its image id instead of the reference it was
    created with: Docker does so once that reference (`repo:tag`) names other bytes (the
    tag moved), and then the entry no longer says which tag, so which version, it runs."""
    return str(item.get("Image") or "").startswith("sha256:")


def container_number(labels: Mapping[str, str]) -> int:
    """Compose's container number (0 when the label is missing or not a number)."""
    text = labels.get(NUMBER_LABEL, "")
    return int(text) if text.isdigit() else 0


def timestamp(text: str | None) -> datetime | None:
    """Parse Docker's RFC 3339 timestamps (nanoseconds, `Z`); the zero time is None."""
    if not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    micro = (frac + "000000")[:6] if frac else "0"
    return datetime.fromisoformat(f"{head}.{micro}+00:00")


def healthcheck(config: Mapping[str, Any]) -> Healthcheck | None:
    """The healthcheck in a container's Config (the image's merged in at create), with
    Docker's defaults for unset timings; None without a runnable test."""
    check = config.get("Healthcheck") or {}
    test = [str(part) for part in check.get("Test") or []]
    if not test or test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        return None
    shell = [str(part) for part in config.get("Shell") or ["/bin/sh", "-c"]]
    command = test[1:] if test[0] == "CMD" else [*shell, " ".join(test[1:])]

    def seconds(key: str, default: float) -> float:
        return int(check.get(key) or 0) / 1e9 or default

    return Healthcheck(
        tuple(command),
        interval=seconds("Interval", 30.0),
        timeout=seconds("Timeout", 30.0),
        retries=int(check.get("Retries") or 0) or 3,
        start_period=seconds("StartPeriod", 0.0),
    )


def replica(item: Mapping[str, Any]) -> Replica:
    """A container's inspect document as a Replica."""
    config, state = item.get("Config", {}), item.get("State", {})
    labels = config.get("Labels") or {}
    health = state.get("Health")
    log = health.get("Log") or [] if health else []
    return Replica(
        id=item["Id"],
        name=item.get("Name", "").lstrip("/"),
        service=labels.get(SERVICE_LABEL, ""),
        number=container_number(labels),
        image_ref=config.get("Image", ""),
        image_id=item.get("Image", ""),
        state=state.get("Status", "unknown"),
        health=health.get("Status") if health else None,
        started_at=timestamp(state.get("StartedAt")),
        restart_count=int(item.get("RestartCount", 0)),
        exit_code=int(state.get("ExitCode", 0)),
        labels=labels,
        health_log=tuple(str(entry.get("Output", "")).strip() for entry in log[-3:]),
        oom_killed=bool(state.get("OOMKilled", False)),
        named=answers_service_name(item, labels.get(SERVICE_LABEL, "")),
        healthcheck=healthcheck(config) if health else None,
        addresses={
            str(network): str(endpoint.get("IPAddress"))
            for network, endpoint in (
                (item.get("NetworkSettings") or {}).get("Networks") or {}
            ).items()
            if endpoint and endpoint.get("IPAddress")
        },
        published_ports=published_ports(item),
    )


def published_ports(item: Mapping[str, Any]) -> dict[int, int]:
    """The host port each TCP port of a running container is published on (its first
    binding, as `docker compose port` answers)."""
    found: dict[int, int] = {}
    for key, bindings in ((item.get("NetworkSettings") or {}).get("Ports") or {}).items():
        port, _, protocol = str(key).partition("/")
        hosts = [str(b.get("HostPort", "")) for b in bindings or []]
        host = next((h for h in hosts if h.isdigit() and h != "0"), None)
        if protocol == "tcp" and port.isdigit() and host is not None:
            found[int(port)] = int(host)
    return found


def answers_service_name(item: Mapping[str, Any], service: str) -> bool | None:
    """Whether a container has its service's name as an alias on some network: False on
    no network at all (a leave cut short between its disconnect and connect), None when
    it has no network with aliases (host, none or another container's network mode, the
    default bridge)."""
    networks = (item.get("NetworkSettings") or {}).get("Networks") or {}
    mode = str((item.get("HostConfig") or {}).get("NetworkMode") or "")
    if not networks and mode not in ("", "host", "none", "bridge", "default"):
        return None if mode.startswith("container:") else False
    aliases = [set(endpoint.get("Aliases") or []) for endpoint in networks.values()]
    if not any(aliases):
        return None
    return any(service in names for names in aliases)


def image(item: Mapping[str, Any], repository: str, tag: str) -> ImageInfo:
    """An image's inspect document as the ImageInfo of one of its tags."""
    digests = item.get("RepoDigests") or []
    return ImageInfo(
        repository=repository,
        tag=tag,
        id=item.get("Id", ""),
        digest=digests[0].partition("@")[2] if digests else None,
        labels=(item.get("Config") or {}).get("Labels") or {},
        created=item.get("Created", ""),
        repo_digests=tuple(digests),
    )
