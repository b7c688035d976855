"""What the engine reports: replicas, images, events and the services of the compose model.

Typed values only; the adapters (engine/compose.py, engine/fake.py) build them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agentlab.common.imagerefs import short_id, split_image_ref
from agentlab.common.words import counted

VERSION_LABEL = "org.opencontainers.image.version"
# Compose's hash of the service configuration a container was created from (`compose
# config --hash`): Compose recreates a container whose label differs from the files' hash.
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
# The container events an engine reports: lifecycle and health (not health probes' exec_*).
LIFECYCLE_EVENTS = ("create", "start", "restart", "die", "kill", "oom", "stop", "destroy",
                    "pause", "unpause", "health_status")  # fmt: skip


@dataclass(frozen=True)
class Healthcheck:
    """A container's healthcheck as the engine runs it: the command to exec in it (the
    CMD form's arguments, or the shell and a CMD-SHELL string), and its timings."""

    command: tuple[str, ...]
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0


@dataclass(frozen=True)
class Replica:
    """One container of a service, read from one inspect."""

    id: str
    name: str
    service: str
    number: int
    image_ref: str
    image_id: str
    state: str
    health: str | None
    started_at: datetime | None
    restart_count: int = 0
    exit_code: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    health_log: tuple[str, ...] = ()
    oom_killed: bool = False
    named: bool | None = None  # answers its service's DNS name (None: no such network)
    addresses: Mapping[str, str] = field(default_factory=dict)  # network -> IPv4 address
    published_ports: Mapping[int, int] = field(default_factory=dict)  # TCP port -> host port
    healthcheck: Healthcheck | None = None  # None: none, or not one agentlab can run itself

    @property
    def version(self) -> str | None:
        """The OCI version label of the replica's image, if any."""
        return self.labels.get(VERSION_LABEL)

    @property
    def config_hash(self) -> str | None:
        """Compose's hash of the configuration it was created from (None: not Compose's)."""
        return self.labels.get(CONFIG_HASH_LABEL)

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def short_image_id(self) -> str:
        return short_id(self.image_id)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def has_healthcheck(self) -> bool:
        return self.health is not None

    @property
    def ready(self) -> bool:
        """Running, and healthy when the image has a healthcheck: it can serve."""
        return self.running and self.health in (None, "healthy")

    def uptime_seconds(self, now: datetime) -> float | None:
        """Seconds since the container started, while it runs."""
        if not self.running or self.started_at is None:
            return None
        return max(0.0, (now - self.started_at).total_seconds())


@dataclass(frozen=True)
class ContainerImage:
    """What one running container of a service runs, as a container list shows it."""

    service: str
    image_ref: str
    image_id: str
    version: str | None  # its image's OCI version label

    @classmethod
    def of(cls, replica: Replica) -> ContainerImage:
        return cls(replica.service, replica.image_ref, replica.image_id, replica.version)


@dataclass(frozen=True)
class ImageInfo:
    """A local image tag."""

    repository: str
    tag: str
    id: str
    digest: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    created: str = ""
    repo_digests: tuple[str, ...] = ()  # `repository@sha256:...`, one per registry repository

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class EngineEvent:
    """A container event of the project (create, start, die, health_status...)."""

    action: str
    container_id: str
    service: str | None
    name: str
    time: datetime
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NameChange:
    """A replica joined or left its service's DNS name: the networks where it did, and
    those where the engine gave it another address on the way (connections to the old
    one are cut)."""

    networks: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    addresses: Mapping[str, str] = field(default_factory=dict)  # network -> IPv4, after


@dataclass(frozen=True)
class BuildSection:
    """A service's `build:` as Compose resolved it (context absolute, args interpolated)."""

    context: str
    dockerfile: str = "Dockerfile"
    target: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    inline: str | None = None  # dockerfile_inline: the Dockerfile's text itself
    contexts: tuple[str, ...] = ()  # additional_contexts' names (not images)


@dataclass(frozen=True)
class PublishedPort:
    """One `ports:` entry; `published` is None for an ephemeral host port, or a range
    (`host_range`: its first and last port, each container taking one of them)."""

    target: int
    published: int | None
    host_ip: str = ""
    protocol: str = "tcp"
    host_range: tuple[int, int] | None = None

    def __str__(self) -> str:
        host = f"{self.host_ip}:" if self.host_ip else ""
        published = "-".join(map(str, self.host_range)) if self.host_range else self.published
        return f"{host}{published or ''}->{self.target}/{self.protocol}"

    def range_size(self) -> int:
        """The ports in its host range (0 without one)."""
        return self.host_range[1] - self.host_range[0] + 1 if self.host_range else 0


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the resolved compose model (user files plus the agentlab override).
    A service with a build section and no `image:` gets the image Compose would give it,
    `<project>-<service>` (tag `latest`)."""

    name: str
    image: str | None
    build: BuildSection | None
    replicas: int
    container_name: str | None = None
    ports: tuple[PublishedPort, ...] = ()
    update_config: Mapping[str, Any] = field(default_factory=dict)
    rollback_config: Mapping[str, Any] = field(default_factory=dict)
    stop_grace_period: float = 10.0
    networks: tuple[str, ...] = ()  # the compose file's network keys
    network_parent: str | None = None  # X of `network_mode: service:X`: it joins X's network
    named_volumes: tuple[str, ...] = ()  # named volumes it mounts read-write
    host_network: bool = False  # network_mode host: its ports are the host's
    job: bool = False  # another service waits for it to complete (a migration, say)

    @property
    def fixed_host_ports(self) -> tuple[PublishedPort, ...]:
        """The published ports with a fixed host port: one container can bind each."""
        return tuple(port for port in self.ports if port.published is not None)

    @property
    def repository(self) -> str | None:
        """The image reference without its tag (`registry:5000/a/b:1` -> `registry:5000/a/b`)."""
        if self.image is None:
            return None
        return split_image_ref(self.image)[0]

    def surge_cautions(self) -> list[str]:
        """Why a new replica beside the old one is possible but unsafe by default: a lone
        replica's named volume (a database's data, say) that both would write at once, or
        its host network, where both would bind the same ports (a worker that listens on
        none may surge: asked for, or with several replicas, which cannot listen either)."""
        if self.replicas != 1:
            return []
        cautions = []
        if self.named_volumes:
            volumes = ", ".join(self.named_volumes)
            cautions.append(f"named volume {volumes} would be written by two containers at once")
        if self.host_network:
            cautions.append("network_mode host: two containers would bind the same host ports")
        return cautions

    def surge_blockers(self) -> list[str]:
        """Why this service cannot run extra replicas side by side (empty when it can)."""
        reasons = []
        if self.container_name:
            reasons.append(f"container_name '{self.container_name}' allows one container only")
        if self.fixed_host_ports:
            ports = ", ".join(str(port) for port in self.fixed_host_ports)
            reasons.append(f"fixed host port {ports} can be bound by one container only")
        for port in self.ports:
            if port.host_range and port.range_size() <= self.replicas:
                ports = counted(port.range_size(), "port")
                replicas = counted(self.replicas, "replica")
                reasons.append(f"host port range {port} has {ports} for {replicas}: none left "
                               "for another")  # fmt: skip
        return reasons

    def spare_host_ports(self) -> int | None:
        """How many containers beyond its replicas its host port ranges leave ports for
        (the fewest over its ranges); None when it publishes no range."""
        spares = [p.range_size() - self.replicas for p in self.ports if p.host_range]
        return min(spares) if spares else None
