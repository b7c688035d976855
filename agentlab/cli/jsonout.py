"""JSON for scripts (`--json`), made here at the edge from the facade's typed results."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from agentlab.common.durations import rfc3339
from agentlab.common.imagerefs import split_image_ref
from agentlab.engine.model import Replica
from agentlab.lab.builds import ImageRow
from agentlab.lab.catalogue import VersionRow
from agentlab.lab.drift import Drift, DriftReport
from agentlab.lab.status import LabStatus


def emit_json(value: Any) -> None:
    """Print one JSON document (indented) on stdout."""
    print(json.dumps(value, indent=2, default=str))


def status_json(status: LabStatus) -> dict[str, Any]:
    return {
        "project": status.project,
        "taken_at": rfc3339(status.taken_at),
        "services": [
            {
                "service": svc.name,
                "managed": svc.managed,
                "image": svc.image,
                "desired": svc.desired,
                "ready": svc.ready,
                "job": svc.job,
                "surge_blockers": svc.blockers,
                "canary": _canary(status, svc.name),
                "rollout_under_way": svc.name in status.rolling,  # in another process
                "unfinished_rollout": _stopped(status, svc.name),
                "replicas": [
                    {
                        **replica_json(r, status.taken_at, status.digests.get(r.image_id)),
                        "drift": _drift_reason(status.drift_of(r.name)),
                    }
                    for r in svc.replicas
                ],
            }
            for svc in status.services
        ],
        "drift": [asdict(drift) for drift in status.drift],
    }


def _stopped(status: LabStatus, service: str) -> dict[str, Any] | None:
    """The rollout of `service` left unfinished (interrupted or paused), if any."""
    stopped = next((s for s in status.stopped if s.service == service), None)
    return None if stopped is None else asdict(stopped)


def _drift_reason(drift: Drift | None) -> str | None:
    return None if drift is None else drift.reason


def drift_json(report: DriftReport) -> dict[str, Any]:
    return {
        "project": report.project,
        "drift": [asdict(drift) for drift in report.drifts],
        "services": list(report.services),
        "replicas": report.replicas,
        "busy": list(report.busy),
        "registry": report.registry,
        "environments": list(report.environments),
        "unknown": report.unknown,
        "not_running": list(report.not_running),
    }


def _canary(status: LabStatus, service: str) -> dict[str, Any] | None:
    """A running canary of `service`: its step and the versions' shares."""
    view = status.canaries.get(service)
    return None if view is None else asdict(view)


def replica_json(replica: Replica, now: datetime, digest: str | None) -> dict[str, Any]:
    uptime = replica.uptime_seconds(now)
    return {
        "container": replica.name,
        "id": replica.short_id,
        "service": replica.service,
        "image": replica.image_ref,
        "tag": split_image_ref(replica.image_ref)[1],
        "version": replica.version,
        "image_id": replica.short_image_id,
        "digest": digest,
        "state": replica.state,
        "health": replica.health if replica.running else None,  # Docker keeps the last one
        "uptime_s": None if uptime is None else round(uptime, 1),
        "restarts": replica.restart_count,
        "answers_name": replica.named,  # null: in no network with names (network_mode)
    }


def versions_json(versions: dict[str, list[VersionRow]]) -> dict[str, list[dict[str, Any]]]:
    return {service: [asdict(row) for row in rows] for service, rows in versions.items()}


def images_json(rows: list[ImageRow]) -> dict[str, list[dict[str, Any]]]:
    """Local tags grouped per service."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        entry = asdict(row)
        del entry["service"]
        grouped.setdefault(row.service, []).append(entry)
    return grouped
