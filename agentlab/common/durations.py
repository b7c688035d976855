"""Durations: parsed from Compose's Go-style strings, shown compactly; and instants as
agentlab's JSON writes them."""

from __future__ import annotations

from datetime import UTC, datetime

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_UNIT_ORDER = ("ms", "us", "µs", "ns", "h", "m", "s")  # longest match first


def parse_duration(value: object, default: float = 0.0) -> float:
    """Seconds from a Compose duration: `1m30s`, `500ms`, `2s`, a number of seconds, or None."""
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        char = text[i]
        if char.isdigit() or char == ".":
            number += char
            i += 1
            continue
        unit = next((u for u in _UNIT_ORDER if text.startswith(u, i)), None)
        if unit is None or not number:
            raise ValueError(f"malformed duration '{text}'")
        total += float(number) * _UNITS[unit]
        number, i = "", i + len(unit)
    if number:
        total += float(number)
    return total


def format_duration(seconds: float | None) -> str:
    """Compact uptime: 42s, 3m12s, 2h05m, 3d04h ("-" for None)."""
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


def rfc3339(at: datetime) -> str:
    """An instant as every JSON document of agentlab gives one: UTC, milliseconds, `Z`."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
