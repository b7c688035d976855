"""Plain-text rendering for scripted mode: tables and durations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces; None shows as '-'."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def duration(seconds: float | None) -> str:
    """Compact uptime: 42s, 3m12s, 2h05m, 3d04h."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def status_table(status: dict[str, Any]) -> str:
    """The `agentlab status` table, one row per replica, plus notes on blocked services."""
    rows = []
    notes = []
    for svc in status["services"]:
        label = f"{svc['service']} {svc['ready']}/{svc['desired']}"
        if not svc["managed"]:
            label += " (unmanaged)"
        if not svc["replicas"]:
            rows.append([label, "-", svc["image"], None, None, None, "absent", None, None])
        for replica in svc["replicas"]:
            rows.append(
                [
                    label,
                    replica["container"],
                    replica["tag"],
                    replica["version"],
                    replica["image_id"],
                    (replica["digest"] or "")[7:19] or None,
                    replica["state"],
                    replica["health"],
                    duration(replica["uptime_s"]),
                ]
            )
            label = ""
        for blocker in svc["surge_blockers"]:
            notes.append(f"note: {svc['service']} cannot take extra replicas: {blocker}")
    headers = [
        "SERVICE",
        "CONTAINER",
        "TAG",
        "VERSION",
        "IMAGE ID",
        "DIGEST",
        "STATE",
        "HEALTH",
        "UPTIME",
    ]
    text = f"project {status['project']}\n" + table(headers, rows)
    return "\n".join([text, *notes])
