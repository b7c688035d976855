"""Plain-text rendering for scripted mode: tables of the facade's typed results."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from typing import Any

from agentlab.common.durations import format_duration
from agentlab.common.imagerefs import split_image_ref
from agentlab.lab.builds import ImageRow
from agentlab.lab.catalogue import VersionRow
from agentlab.lab.status import LabStatus
from agentlab.state.history_records import Revision

STATUS_HEADERS = ("SERVICE", "CONTAINER", "TAG", "VERSION", "IMAGE ID", "DIGEST", "STATE",
                  "HEALTH", "UPTIME")  # fmt: skip
# what status leaves out, in this order, to fit a narrow terminal (a projector's)
STATUS_OPTIONAL = ("DIGEST", "VERSION", "IMAGE ID", "UPTIME")
HISTORY_HEADERS = ("SERVICE", "REV", "VERSION", "IMAGE ID", "DIGEST", "CAUSE", "STRATEGY",
                   "STARTED", "FINISHED", "OUTCOME")  # fmt: skip


def terminal_width() -> int | None:
    """The terminal's columns when stdout is one; None for a pipe or a file (all columns)."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    width: int | None = None,
    optional: Sequence[str] = (),
) -> str:
    """Left-aligned columns separated by two spaces; None shows as '-'. Wider than
    `width`, the `optional` columns go, in that order, until it fits: first those with
    nothing to say ('-' throughout), then the others."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    if width is not None:
        headers, cells = _fitted(list(headers), cells, width, optional)
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def _fitted(
    headers: list[str], cells: list[list[str]], width: int, optional: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """The columns left once the optional ones (empty ones first) went, as few as fit."""

    def wide(columns: list[int]) -> int:
        return sum(max([len(headers[i]), *(len(row[i]) for row in cells)]) + 2 for i in columns)

    keep = list(range(len(headers)))
    empty = [h for h in optional if all(row[headers.index(h)] == "-" for row in cells)]
    for header in [*empty, *(h for h in optional if h not in empty)]:
        if wide(keep) - 2 <= width:
            break
        keep.remove(headers.index(header))
    return [headers[i] for i in keep], [[row[i] for i in keep] for row in cells]


def short_digest(digest: str | None) -> str | None:
    return (digest or "")[7:19] or None


def status_table(status: LabStatus, width: int | None = None) -> str:
    """The `agentlab status` table, one row per replica, plus notes on blocked services;
    narrower than `width` (a terminal's) without the columns that matter least."""
    rows: list[list[Any]] = []
    notes = []
    for svc in status.services:
        label = f"{svc.name} (job)" if svc.job else f"{svc.name} {svc.ready}/{svc.desired}"
        if not svc.managed:
            label += " (unmanaged)"
        if not svc.replicas:
            rows.append([label, "-", svc.image, None, None, None, "absent", None, None])
        for replica in svc.replicas:
            rows.append(
                [
                    label,
                    replica.name,
                    split_image_ref(replica.image_ref)[1],
                    replica.version,
                    replica.short_image_id,
                    short_digest(status.digests.get(replica.image_id)),
                    replica.state,
                    replica.health if replica.running else None,  # not an exited one's last
                    format_duration(replica.uptime_seconds(status.taken_at)),
                ]
            )
            label = ""
        if svc.name in status.canaries:
            notes.append(status.canaries[svc.name].line())
        for blocker in svc.blockers if svc.managed else ():
            notes.append(f"note: {svc.name} cannot take extra replicas: {blocker}")
        for replica in svc.replicas:
            if replica.running and replica.named is False:
                why = "a rollout was interrupted; rollout resume or undo puts it right"
                if svc.name in status.rolling:
                    why = "a rollout of it is under way"
                notes.append(f"note: {replica.name} does not answer to {svc.name} (out of its "
                             f"name: {why})")  # fmt: skip
    notes += [f"drift: {drift.line()}" for drift in status.drift]
    text = f"project {status.project}\n" + table(STATUS_HEADERS, rows, width, STATUS_OPTIONAL)
    return "\n".join([text, *notes])


def versions_text(versions: dict[str, list[VersionRow]]) -> str:
    """`agentlab versions`: per service, one line per version, the current one starred."""
    lines = []
    for service, rows in versions.items():
        lines.append(f"{service}:" if rows else f"{service}: no local or buildable version")
        for row in rows:
            mark = "*" if row.current else " "
            where = "local" if row.local else "buildable"
            extra = [
                text
                for text in (
                    row.digest and short_digest(row.digest),
                    row.note,
                    row.blocked_note,
                    row.requires and f"requires {row.requires}",
                )
                if text
            ]
            lines.append(f"  {mark} {row.version:<12} {where:<10} {'; '.join(extra)}".rstrip())
    return "\n".join(lines)


def images_table(rows: list[ImageRow]) -> str:
    return table(
        ["SERVICE", "TAG", "VERSION", "IMAGE ID", "CREATED"],
        [[r.service, r.tag, r.version, r.id, r.created] for r in rows],
    )


def history_table(revisions: list[Revision]) -> str:
    rows = [
        [
            r.service,
            r.number,
            r.version,
            r.image_id.removeprefix("sha256:")[:12] or None,
            short_digest(r.digest),
            r.cause,
            r.strategy,
            r.started_at[:19],
            (r.finished_at or "")[:19] or None,
            r.outcome,
        ]
        for r in revisions
    ]
    reasons = [f"{r.service} {r.number}: {r.reason}" for r in revisions if r.reason]
    return "\n".join([table(HISTORY_HEADERS, rows), *reasons])
