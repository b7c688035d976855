"""A running canary's traffic, stable beside canary: requests per second, 5xx and p99
per version, from two readings of the traffic layer's counters (the canary panel's
figures)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agentlab.rollout.canary_runner import Meter
from agentlab.traffic.metrics import PROXY_MADE, MeterUnreadable, VersionFigures, between


@dataclass(frozen=True)
class VersionRate:
    """What one version served between two readings."""

    version: str
    rps: float
    requests: int
    errors: int  # 5xx answers
    p99: float | None  # seconds, the bucket bound; None with no requests

    @property
    def error_rate(self) -> float | None:
        """The 5xx share (0-1); None with no requests."""
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class CanaryTraffic:
    """The two sides of a canary over one window (None: that version served nothing)."""

    stable: VersionRate | None
    canary: VersionRate | None
    seconds: float


def rate(version: str, figures: VersionFigures, seconds: float) -> VersionRate:
    """`figures` (one window's counters) as a rate over `seconds`."""
    per_second = figures.requests / seconds if seconds > 0 else 0.0
    return VersionRate(version, per_second, figures.requests, figures.errors,
                       figures.quantile(0.99))  # fmt: skip


def split(
    window: Mapping[str, VersionFigures], canary: str, stable: str, seconds: float
) -> CanaryTraffic:
    """The window's canary (version label `canary`) and stable sides: `stable` when it
    served, else the busiest other version (the proxy's own `none` never counts)."""
    others = [(f.requests, v) for v, f in window.items() if v not in (canary, PROXY_MADE)]
    if stable not in window and others:
        stable = max(others)[1]
    sides = (stable, canary)
    found = [rate(v, window[v], seconds) if v in window else None for v in sides]
    return CanaryTraffic(found[0], found[1], seconds)


class CanaryMeter:
    """Reads a canary's meter; each reading gives the traffic since the one before."""

    def __init__(self, read: Meter, clock: Callable[[], float] = time.monotonic) -> None:
        self.read, self.clock = read, clock
        self._before: tuple[float, Mapping[str, VersionFigures]] | None = None

    def sample(self, canary: str, stable: str) -> CanaryTraffic | None:
        """The traffic since the last sample; None at the first (no window yet) and when
        the counters went back (the proxy restarted). A failed reading raises
        MeterUnreadable and keeps the last sample to count from."""
        now, figures = self.clock(), self.read()
        before, self._before = self._before, (now, figures)
        if before is None:
            return None
        window = between(figures, before[1])
        if isinstance(window, MeterUnreadable):
            return None
        return split(window, canary, stable, now - before[0])
