"""Metric gates: `error_rate < 1%`, `p99 < 300ms`, `p99 < 1.5 * stable.p99`, `requests >= 50`.

A gate reads one metric of the canary over one analysis interval (the traffic layer's
per-version figures) and compares it with a threshold, or with a multiple of the stable
version's same metric over the same interval. Latency quantiles are the upper bounds of
the meter's histogram buckets, as Prometheus' histogram_quantile would bound them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, cast

from agentlab.common.errors import BadInput
from agentlab.traffic.metrics import VersionFigures

Metric = Literal["error_rate", "p50", "p95", "p99", "requests"]
Verdict = Literal["pass", "fail", "inconclusive"]
_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
_FORM = re.compile(
    r"^\s*(?P<metric>[a-z_0-9]+)\s*(?P<op><=|>=|<|>)\s*"
    r"(?:(?P<factor>[0-9.]+)\s*\*\s*stable\.(?P<other>[a-z_0-9]+)|(?P<value>[0-9.]+)\s*(?P<unit>%|ms|s)?)\s*$"
)
_HINT = 'e.g. "error_rate < 1%", "p99 < 300ms", "p99 < 1.5 * stable.p99"'


@dataclass(frozen=True)
class Gate:
    """One condition the canary must meet."""

    text: str
    metric: Metric
    operator: str
    threshold: float  # a fraction (error_rate), seconds (pNN), a count (requests)
    relative: bool = False  # threshold is a factor of the stable version's metric


@dataclass(frozen=True)
class Reading:
    """A gate's verdict over one interval, with what it saw."""

    gate: Gate
    verdict: Verdict
    value: float | None
    limit: float | None
    requests: int
    note: str = ""  # why it is inconclusive, when not too few canary requests

    def line(self) -> str:
        """`p99 0.5s (limit < 0.3s, 212 requests): fail`."""
        metric = self.gate.metric
        value, limit = _shown(metric, self.value), _shown(metric, self.limit)
        return (f"{metric} {value} (limit {self.gate.operator} {limit}, "
                f"{self.requests} requests): {self.verdict}")  # fmt: skip


def parse_gate(text: str) -> Gate:
    """A gate from its expression; BadInput naming what is wrong."""
    match = _FORM.match(text)
    if match is None:
        raise BadInput(f"not a gate: '{text}'", hint=_HINT)
    metric = match["metric"]
    if metric not in ("error_rate", "requests", *_QUANTILES):
        raise BadInput(f"gate '{text}': unknown metric {metric}",
                       hint="error_rate, p50, p95, p99 or requests")  # fmt: skip
    if match["factor"] is not None:
        if match["other"] != metric:
            raise BadInput(f"gate '{text}' compares {metric} with stable.{match['other']}",
                           hint=f"compare like with like: stable.{metric}")  # fmt: skip
        factor = _number(match["factor"], text)
        return Gate(text, cast(Metric, metric), match["op"], factor, relative=True)
    value, unit = _number(match["value"], text), match["unit"]
    if metric == "error_rate":
        if unit not in ("%", None):
            raise BadInput(f"gate '{text}': an error rate is a percentage", hint="error_rate < 1%")
        threshold = value / 100 if unit == "%" else value
    elif metric == "requests":
        if unit is not None:
            raise BadInput(f"gate '{text}': requests is a count", hint="requests >= 50")
        threshold = value
    else:
        if unit not in ("ms", "s"):
            raise BadInput(f"gate '{text}': a latency needs a unit", hint=f"{metric} < 300ms")
        threshold = value / 1000 if unit == "ms" else value
    return Gate(text, cast(Metric, metric), match["op"], threshold)


def _number(text: str, gate: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise BadInput(f"gate '{gate}': '{text}' is not a number", hint=_HINT) from None


def metric_value(metric: Metric, figures: VersionFigures) -> float | None:
    """A metric over some figures; None when it has no value (no requests)."""
    if metric == "requests":
        return float(figures.requests)
    if figures.requests == 0:
        return None
    if metric == "error_rate":
        return figures.errors / figures.requests
    return figures.quantile(_QUANTILES[metric])


def judge(gate: Gate, canary: VersionFigures, stable: VersionFigures, min_requests: int) -> Reading:
    """The gate's verdict on one interval's figures."""
    requests = canary.requests
    value = metric_value(gate.metric, canary)
    limit: float | None = gate.threshold
    if gate.relative:
        base = metric_value(gate.metric, stable)
        limit = None if base is None else gate.threshold * base
    if gate.relative and limit is None and requests >= min_requests:
        note = f"no stable {gate.metric} to compare with (no stable requests in the interval)"
        return Reading(gate, "inconclusive", value, limit, requests, note)
    if value is None or limit is None or (gate.metric != "requests" and requests < min_requests):
        return Reading(gate, "inconclusive", value, limit, requests)
    met = compare(value, gate.operator, limit)
    return Reading(gate, "pass" if met else "fail", value, limit, requests)


def compare(value: float, operator: str, limit: float) -> bool:
    """`value OPERATOR limit`."""
    if operator == "<":
        return value < limit
    if operator == "<=":
        return value <= limit
    if operator == ">":
        return value > limit
    return value >= limit


def _shown(metric: Metric, value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    if metric == "error_rate":
        return f"{value * 100:.2g}%"
    if metric == "requests":
        return f"{value:g}"
    return f"{value * 1000:g}ms"
