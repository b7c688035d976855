"""PromQL gates: `promql: QUERY OP THRESHOLD`, a query Prometheus evaluates through its HTTP
API, compared with a number (`promql: sum(rate(...)) / sum(rate(...)) < 1%`).

The comparison is the last `<`, `<=`, `>` or `>=` of the text, followed by a number with an
optional unit (`%` divides by 100, `ms` by 1000, `s` is seconds). The query may use
`$canary` and `$stable` (the versions as the traffic layer's metrics label them),
`$service` and `$interval` (the analysis interval as a PromQL duration); it must come to
one number: one series or a scalar. No sample (or NaN: 0/0) is an inconclusive reading, as
fewer than the minimum number of canary requests is (the count comes from the traffic
layer, as for the other gates).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agentlab.common.errors import AgentlabError, BadInput
from agentlab.rollout.gates import Verdict, compare

PREFIX = "promql:"
PLACEHOLDERS = ("canary", "stable", "service", "interval")
_FORM = re.compile(
    r"^(?P<query>.+?)\s*(?P<op><=|>=|<|>)\s*(?P<value>[-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)"
    r"\s*(?P<unit>%|ms|s)?\s*$",
    re.DOTALL,  # a query may span lines (a folded YAML string, a quoted shell argument)
)
_PLACEHOLDER = re.compile(r"\$(\w+)")
_SCALE = {"%": 100.0, "ms": 1000.0, "s": 1.0, "": 1.0}
_HINT = "e.g. 'promql: sum(rate(agentlab_requests_total{version=\"$canary\"}[10s])) > 1'"
_PAIRS = {")": "(", "]": "[", "}": "{"}

# Evaluates a query: its one number, None when it has no sample; AgentlabError when
# Prometheus is unreachable or refuses the query.
Query = Callable[[str], float | None]


@dataclass(frozen=True)
class PromQLGate:
    """A query and the threshold its value must meet."""

    text: str
    query: str
    operator: str
    threshold: float  # in the query's own unit (a fraction, seconds, a count...)
    unit: str = ""  # how the threshold was written: values are shown the same way

    def rendered(self, values: Mapping[str, str]) -> str:
        """The query with its placeholders filled in."""
        return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), self.query)


@dataclass(frozen=True)
class PromQLReading:
    """A PromQL gate's verdict over one interval, with what it saw."""

    gate: PromQLGate
    verdict: Verdict
    value: float | None
    limit: float | None
    requests: int
    note: str = ""  # why there is no value (Prometheus unreachable, no sample...)

    def line(self) -> str:
        """`promql sum(...) = 5.2% (limit < 1%, 212 requests): fail`."""
        gate = self.gate
        value, limit = _shown(self.value, gate.unit), _shown(self.limit, gate.unit)
        note = f" ({self.note})" if self.note else ""
        return (f"promql {gate.query} = {value} (limit {gate.operator} {limit}, "
                f"{self.requests} requests): {self.verdict}{note}")  # fmt: skip


def is_promql(text: str) -> bool:
    return text.strip().startswith(PREFIX)


def parse_promql_gate(text: str) -> PromQLGate:
    """A PromQL gate from `promql: QUERY OP THRESHOLD`; BadInput naming what is wrong."""
    body = text.strip().removeprefix(PREFIX).strip()
    match = _FORM.match(body)
    if match is None or not match["query"].strip():
        raise BadInput(f"not a PromQL gate: '{text}' (QUERY < NUMBER)", hint=_HINT)
    query = re.sub(r"\s*\n\s*", " ", match["query"].strip())  # one line, as it is shown
    unknown = sorted(set(_PLACEHOLDER.findall(query)) - set(PLACEHOLDERS))
    if unknown:
        raise BadInput(f"gate '{text}': unknown placeholder ${unknown[0]}",
                       hint="$canary, $stable, $service, $interval")  # fmt: skip
    _check_brackets(query, text)
    unit = match["unit"] or ""
    threshold = float(match["value"]) / _SCALE[unit]
    return PromQLGate(text, query, match["op"], threshold, unit)


def _check_brackets(query: str, text: str) -> None:
    """Brackets pair up outside quoted strings (Prometheus checks the rest)."""
    stack: list[str] = []
    quote = ""
    for char in query:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in _PAIRS and (not stack or stack.pop() != _PAIRS[char]):
            raise BadInput(f"gate '{text}': unbalanced '{char}'", hint=_HINT)
    if stack or quote:
        raise BadInput(f"gate '{text}': unclosed '{quote or stack[-1]}'", hint=_HINT)


def duration(seconds: float) -> str:
    """A PromQL duration: `2s`, `1500ms`."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def read_promql(
    gate: PromQLGate,
    query: Query | None,
    values: Mapping[str, str],
    requests: int,
    min_requests: int,
) -> PromQLReading:
    """The gate's verdict now: its query through `query` (None: no Prometheus)."""
    if query is None:
        return PromQLReading(gate, "inconclusive", None, gate.threshold, requests, "no Prometheus")
    try:
        value = query(gate.rendered(values))
    except AgentlabError as error:
        return PromQLReading(gate, "inconclusive", None, gate.threshold, requests, error.message)
    if value is None or math.isnan(value):
        return PromQLReading(gate, "inconclusive", None, gate.threshold, requests, "no data")
    if requests < min_requests:
        return PromQLReading(gate, "inconclusive", value, gate.threshold, requests)
    met = compare(value, gate.operator, gate.threshold)
    return PromQLReading(gate, "pass" if met else "fail", value, gate.threshold, requests)


def _shown(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value * _SCALE[unit]:.4g}{unit}"
