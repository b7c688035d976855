"""How lab state reads on screen: health colours, summaries, short ids, uptimes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from rich.text import Text

from agentlab.common.durations import format_duration
from agentlab.common.imagerefs import split_image_ref
from agentlab.engine.model import Replica
from agentlab.lab.status import ServiceStatus

HEALTH_STYLES = {
    "healthy": "bold green",
    "running": "green",
    "done": "green",
    "starting": "bold yellow",
    "restarting": "bold yellow",
    "unhealthy": "bold red",
    "exited": "bold red",
    "dead": "bold red",
    "down": "dim",
}
LABEL_PREFIXES = ("org.opencontainers.", "io.agentlab.")


def coloured(word: str) -> Text:
    """A health or state word in its colour (green, yellow, red; dim when unknown)."""
    return Text(word, style=HEALTH_STYLES.get(word, "dim"))


def replica_health(replica: Replica) -> str:
    """One word: the healthcheck status, else the container state."""
    if not replica.running:
        return replica.state
    return replica.health or "running"


def service_health(service: ServiceStatus) -> str:
    """The worst health among a service's replicas ("down" when none exist; "done" for a
    job whose replicas all exited 0)."""
    words = {replica_health(r) for r in service.replicas}
    if not words:
        return "down"
    if service.job and all(r.state == "exited" and r.exit_code == 0 for r in service.replicas):
        return "done"
    for word in ("unhealthy", "exited", "dead", "starting"):
        if word in words:
            return "unhealthy" if word in ("exited", "dead") else word
    return "healthy" if "healthy" in words else "running"


def tag_of(image: str | None) -> str:
    """The tag of an image reference ("-" when there is none)."""
    return split_image_ref(image)[1] if image else "-"


def short_image(replica: Replica, digests: Mapping[str, str | None]) -> str:
    """The short repo digest when the image has one, else the short image id."""
    digest = digests.get(replica.image_id)
    return digest.removeprefix("sha256:")[:12] if digest else replica.short_image_id


def uptime(replica: Replica, now: datetime) -> str:
    """Compact uptime as `agentlab status` prints it; "-" while not running."""
    return format_duration(replica.uptime_seconds(now))


def image_labels(replica: Replica) -> list[tuple[str, str]]:
    """The OCI (and agentlab) labels of a replica's image, prefix trimmed, sorted."""
    found = []
    for key, value in replica.labels.items():
        for prefix in LABEL_PREFIXES:
            if key.startswith(prefix):
                found.append((key.removeprefix("org.opencontainers."), value))
    return sorted(found)
