"""How agentlab reports what happens: typed events (rollouts, watch), each with its JSON
form and one line; and progress lines, for long work that has no events of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar

from agentlab.common.durations import rfc3339

ProgressSink = Callable[[str], None]  # receives one progress line at a time


def quiet(_: str) -> None:
    """A progress sink that drops every line."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    """An event with a `kind` (its name in JSON) and the time it happened."""

    kind: ClassVar[str] = "event"
    at: datetime = field(default_factory=_now, kw_only=True)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: `event`, `time` (RFC 3339) and the event's fields."""
        data: dict[str, Any] = {
            "event": self.kind,
            "time": rfc3339(self.at),
        }
        for item in fields(self):
            if item.name != "at":
                data[item.name] = getattr(self, item.name)
        return data

    def line(self) -> str:
        """One human-readable line."""
        return self.kind
