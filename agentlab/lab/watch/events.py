"""What a `Watcher` reports: reloads, desired-version changes, config errors, failures.

Rollout events (agentlab.rollout.events) pass through the same callback unchanged; both
kinds have `line()` and `to_json()`, so a printer renders them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from agentlab.common.events import Event
from agentlab.common.imagerefs import split_image_ref
from agentlab.lab.drift import unknown_line


@dataclass(frozen=True)
class Change:
    """One managed service whose desired image changed."""

    service: str
    before: str
    after: str

    def line(self) -> str:
        before, after = split_image_ref(self.before)[1], split_image_ref(self.after)[1]
        return f"{self.service} {before} -> {after}"


@dataclass(frozen=True)
class WatchEvent(Event):
    """Base of the watcher's own events."""

    kind: ClassVar[str] = "watch"


@dataclass(frozen=True)
class Reloaded(WatchEvent):
    """An edit loaded cleanly; `desired` is the image per managed service it asks for."""

    kind: ClassVar[str] = "reloaded"
    files: tuple[str, ...]
    desired: dict[str, str]

    def line(self) -> str:
        return f"reloaded {', '.join(self.files)}"


@dataclass(frozen=True)
class DesiredChanged(WatchEvent):
    """Services whose desired version changed; each is rolled out in turn."""

    kind: ClassVar[str] = "desired_changed"
    changes: tuple[Change, ...]

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["changes"] = [
            {"service": c.service, "from": c.before, "to": c.after} for c in self.changes
        ]
        return data

    def line(self) -> str:
        return "desired: " + ", ".join(change.line() for change in self.changes)


@dataclass(frozen=True)
class ConfigError(WatchEvent):
    """An edit that does not load; the last good config stays in force."""

    kind: ClassVar[str] = "config_error"
    file: str
    reason: str

    def line(self) -> str:
        return f"config error: {self.file}: {self.reason}; keeping the last good config"


@dataclass(frozen=True)
class WatchError(WatchEvent):
    """Something other than the config went wrong (engine, lock, a rollout that raised)."""

    kind: ClassVar[str] = "watch_error"
    message: str

    def line(self) -> str:
        return f"watch error: {self.message}"


@dataclass(frozen=True)
class DriftFound(WatchEvent):
    """Something began to differ from what was decided (e.g. a replica recreated outside
    agentlab on another image)."""

    kind: ClassVar[str] = "drift"
    service: str
    subject: str
    reason: str
    hint: str

    def line(self) -> str:
        return f"drift: {self.service}: {self.reason} (hint: {self.hint})"


@dataclass(frozen=True)
class DriftGone(WatchEvent):
    """A drift reported before is no longer there."""

    kind: ClassVar[str] = "drift_gone"
    service: str
    subject: str

    def line(self) -> str:
        return f"drift gone: {self.service}: {self.subject}"


@dataclass(frozen=True)
class DriftUnknown(WatchEvent):
    """What drift could not compare, as `agentlab drift` says it (the registry did not
    answer, or answered an error: its tags are unknown)."""

    kind: ClassVar[str] = "drift_unknown"
    reason: str

    def line(self) -> str:
        return unknown_line(self.reason)


@dataclass(frozen=True)
class DriftKnown(WatchEvent):
    """What drift could not compare is compared again (the registry answers)."""

    kind: ClassVar[str] = "drift_known"

    def line(self) -> str:
        return "unknown gone: drift compares everything again"
