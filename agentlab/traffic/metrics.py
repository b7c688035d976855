"""Per-version traffic figures from the traffic layer's meter (Prometheus text format):
requests by status class and a latency histogram, per backend and version. A reading
the meter could not make whole raises MeterUnreadable: never partial figures."""

from __future__ import annotations

import http.client
import math
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

from agentlab.common.errors import OperationFailed

# The version of the answers no server gave (HAProxy's own 502/503/504): the meter takes
# them as the backend's counts less its servers', two reads a moment apart, so answers that
# end in between can show there for one reading (and go down at the next).
PROXY_MADE = "none"
_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class VersionFigures:
    """What one version of a service served through the proxy."""

    codes: dict[str, int] = field(default_factory=dict)  # "2xx": count
    buckets: dict[float, int] = field(default_factory=dict)  # cumulative, by upper bound
    count: int = 0
    total_seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.codes.values())

    @property
    def errors(self) -> int:
        """Server errors: 5xx answers."""
        return self.codes.get("5xx", 0)

    def quantile(self, q: float) -> float | None:
        """The bucket bound where the q-quantile falls (seconds), None with no requests."""
        if self.count == 0:
            return None
        rank = q * self.count
        for bound in sorted(self.buckets):
            if self.buckets[bound] >= rank:
                return bound
        return math.inf

    @property
    def went_back(self) -> bool:
        """A counter is below zero: the difference of two readings across a reset (the
        proxy restarted), not traffic."""
        counters = [*self.codes.values(), *self.buckets.values(), self.count]
        return any(value < 0 for value in counters) or self.total_seconds < 0

    def at_least_zero(self) -> VersionFigures:
        """These figures with every counter below zero taken as zero."""
        return VersionFigures(
            {k: max(0, v) for k, v in self.codes.items()},
            {k: max(0, v) for k, v in self.buckets.items()},
            max(0, self.count),
            max(0.0, self.total_seconds),
        )

    def minus(self, before: VersionFigures) -> VersionFigures:
        """What happened since `before` (an earlier reading of the same counters)."""
        return VersionFigures(
            {k: v - before.codes.get(k, 0) for k, v in self.codes.items()},
            {k: v - before.buckets.get(k, 0) for k, v in self.buckets.items()},
            self.count - before.count,
            self.total_seconds - before.total_seconds,
        )

    def plus(self, other: VersionFigures) -> VersionFigures:
        """These counters and `other`'s together (one version behind two backends)."""
        classes, bounds = {*self.codes, *other.codes}, {*self.buckets, *other.buckets}
        codes = {k: self.codes.get(k, 0) + other.codes.get(k, 0) for k in classes}
        buckets = {k: self.buckets.get(k, 0) + other.buckets.get(k, 0) for k in bounds}
        return VersionFigures(
            codes,
            buckets,
            self.count + other.count,
            self.total_seconds + other.total_seconds,
        )


Figures = dict[str, dict[str, VersionFigures]]  # backend -> version -> figures
UNREADABLE_HINT = "read it again; `docker compose logs agentlab-proxy` says more"


class MeterUnreadable(OperationFailed):
    """The meter gave no whole reading: it answered an error (its table was cut short or
    full) or did not answer at all."""


def of_backends(figures: Figures, backends: list[str]) -> dict[str, VersionFigures]:
    """Per version, the figures of these backends together."""
    found: dict[str, VersionFigures] = {}
    for backend in backends:
        for version, each in figures.get(backend, {}).items():
            found[version] = found[version].plus(each) if version in found else each
    return found


def read(url: str, timeout: float = 5.0) -> Figures:
    """The meter's figures now (an HTTP GET of its exposition text); MeterUnreadable when
    it answers an error (its one line says why) or nothing."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return parse(answer.read().decode(errors="replace"))
    except urllib.error.HTTPError as error:
        why = _first_line(error.read().decode(errors="replace")) or error.reason
        raise MeterUnreadable(
            f"the traffic layer's meter answered {error.code}: {why}", UNREADABLE_HINT
        ) from None
    except (OSError, http.client.HTTPException) as error:  # refused, timed out, cut short
        raise MeterUnreadable(
            f"the traffic layer's meter did not answer: {error}", UNREADABLE_HINT
        ) from None


def parse(text: str) -> Figures:
    """The meter's exposition text as figures per backend and version."""
    found: Figures = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        figures = found.setdefault(labels.get("backend", "-"), {}).setdefault(
            labels.get("version", "unknown"), VersionFigures()
        )
        value = float(match["value"])
        name = match["name"]
        if name == "agentlab_requests_total":
            figures.codes[labels.get("code", "other")] = int(value)
        elif name == "agentlab_request_duration_seconds_bucket" and labels.get("le") != "+Inf":
            figures.buckets[float(labels["le"])] = int(value)
        elif name == "agentlab_request_duration_seconds_count":
            figures.count = int(value)
        elif name == "agentlab_request_duration_seconds_sum":
            figures.total_seconds = value
    return found


def since(
    now: Mapping[str, VersionFigures], before: Mapping[str, VersionFigures]
) -> dict[str, VersionFigures]:
    """Per version, what happened between two readings of one backend."""
    return {version: figures.minus(before.get(version, VersionFigures()))
            for version, figures in now.items()}  # fmt: skip


MeterReading = Mapping[str, VersionFigures] | MeterUnreadable  # per version, or why there is none


def between(now: MeterReading, before: MeterReading) -> dict[str, VersionFigures] | MeterUnreadable:
    """Per version, the traffic between two readings of one backend; or why it is unknown:
    a reading failed, or the counters went back (the proxy restarted between them)."""
    if isinstance(now, MeterUnreadable):
        return now
    if isinstance(before, MeterUnreadable):
        return MeterUnreadable(f"no whole reading to count from: {before.message}", before.hint)
    window = since(now, before)
    if any(figures.went_back for version, figures in window.items() if version != PROXY_MADE):
        why = "the traffic layer's counters went back (the proxy restarted?)"
        return MeterUnreadable(why, "the next window counts from this reading")
    if PROXY_MADE in window:  # a difference of two reads made a moment apart: never below 0
        window[PROXY_MADE] = window[PROXY_MADE].at_least_zero()
    return window


def lines(figures: Mapping[str, VersionFigures]) -> list[str]:
    """One line per version: requests, 5xx, p50 and p99 (upper bucket bounds)."""
    found = []
    for version, each in sorted(figures.items()):
        if each.requests == 0:
            continue
        p50, p99 = each.quantile(0.5), each.quantile(0.99)
        found.append(
            f"{version:<10} requests {each.requests:<6} 5xx {each.errors:<4} "
            f"p50 <= {_ms(p50)}  p99 <= {_ms(p99)}"
        )
    return found


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return "inf" if math.isinf(seconds) else f"{seconds * 1000:g} ms"
