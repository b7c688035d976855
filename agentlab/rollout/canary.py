"""A canary's plan, as Argo Rollouts writes one: steps (`setWeight N`, `pause [D]`,
`analysis`), metric gates, and how traffic and replicas follow a weight.

Steps come from the command line (`10,pause 30s,50,100`) or agentlab.yaml (a list of
the same words, or Argo's `{setWeight: 10}`, `{pause: {duration: 30s}}`, `{analysis:
{}}`). Written as bare weights, every weight below 100 gets an analysis after it when
gates are given. Pure logic: the runner (rollout/canary_runner.py) carries it out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentlab.common.durations import parse_duration
from agentlab.common.errors import BadInput
from agentlab.rollout.gates import Gate, parse_gate
from agentlab.rollout.promql_gates import PromQLGate, is_promql, parse_promql_gate

MAX_WEIGHT = 256  # HAProxy's largest server weight
DEFAULT_STEPS = "10,50,100"
DEFAULT_SCALE_DOWN_DELAY = "30s"  # as Argo Rollouts' blue-green
_STEP_HINT = "e.g. --steps 10,pause 30s,50,analysis,100"


STRATEGIES = ("canary", "blue-green")  # the progressive ones: each step says which


def step_line(description: str) -> str | None:
    """A progressive rollout's step as its plan says it (`set weight 50%`), from the
    description its journal and events carry (`canary: set weight 50%`); None for
    another step."""
    for strategy in STRATEGIES:
        if description.startswith(f"{strategy}: "):
            return description.removeprefix(f"{strategy}: ")
    return None


@dataclass(frozen=True)
class SetWeight:
    """Send `percent` % of requests to the new version."""

    percent: int

    def line(self) -> str:
        return f"set weight {self.percent}%"


@dataclass(frozen=True)
class Pause:
    """Wait `seconds`, or (None) until `agentlab promote` or `agentlab abort`."""

    seconds: float | None = None

    def line(self) -> str:
        return "pause until promoted" if self.seconds is None else f"pause {self.seconds:g}s"


@dataclass(frozen=True)
class Analysis:
    """Check the gates over `count` intervals."""

    def line(self) -> str:
        return "analysis"


CanaryStep = SetWeight | Pause | Analysis


@dataclass(frozen=True)
class AnalysisSettings:
    """How gates are read: every `interval` seconds, `count` times per analysis step; a
    reading with fewer than `min_requests` canary requests is inconclusive; more than
    `failure_limit` failed readings abort."""

    gates: tuple[Gate | PromQLGate, ...] = ()
    interval: float = 2.0
    count: int = 3
    failure_limit: int = 0
    min_requests: int = 10


@dataclass(frozen=True)
class CanaryPlan:
    """A canary: its steps and its analysis. A blue-green is one too: the full new set at
    weight 0 (reachable on the preview port and by header), analysis, a pause until
    promoted (unless `auto_promote`), then every request at once; the old set stays
    `scale_down_delay` seconds, so that an abort after the switch is instant."""

    steps: tuple[CanaryStep, ...]
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    blue_green: bool = False
    scale_down_delay: float = 0.0

    @property
    def strategy(self) -> str:
        return "blue-green" if self.blue_green else "canary"

    def lines(self) -> list[str]:
        found = [f"{n}. {step.line()}" for n, step in enumerate(self.steps, 1)]
        if self.blue_green:
            found[0] += " (the full new set, on the preview port)"
            found[-1] += f", the old set kept {self.scale_down_delay:g}s for an instant abort"
        return found


def parse_steps(items: str | Sequence[Any], gated: bool) -> tuple[CanaryStep, ...]:
    """Steps from `10,pause 30s,50,100` or a list; weights only: an analysis after each
    weight below 100 when `gated`. Ends at 100 % (added when missing)."""
    raw = [part.strip() for part in items.split(",")] if isinstance(items, str) else list(items)
    steps = [_step(item) for item in raw if item not in ("", None)]
    if not steps:
        raise BadInput("a canary needs steps", hint=_STEP_HINT)
    if gated and all(isinstance(step, SetWeight) for step in steps):
        steps = [s for step in steps for s in ([step, Analysis()] if _below_full(step) else [step])]
    weights = [step.percent for step in steps if isinstance(step, SetWeight)]
    if weights != sorted(weights):
        raise BadInput(f"canary weights must not go down: {weights}", hint=_STEP_HINT)
    if not weights or weights[-1] != 100:
        steps.append(SetWeight(100))
    if any(isinstance(step, Analysis) for step in steps) and not gated:
        raise BadInput("an analysis step needs gates", hint='--gate "error_rate < 1%"')
    return tuple(steps)


def _below_full(step: CanaryStep) -> bool:
    return isinstance(step, SetWeight) and step.percent < 100


def _step(item: Any) -> CanaryStep:
    if isinstance(item, Mapping) and len(item) == 1:
        [(key, value)] = item.items()
        if key == "setWeight":
            return SetWeight(_percent(value))
        if key == "pause":
            duration = value.get("duration") if isinstance(value, Mapping) else value
            return Pause(None if duration in (None, "") else _seconds(duration))
        if key == "analysis":
            return Analysis()
    if isinstance(item, int) and not isinstance(item, bool):
        return SetWeight(_percent(item))
    if isinstance(item, str):
        word, _, rest = item.strip().partition(" ")
        if word == "pause":
            return Pause(_seconds(rest.strip()) if rest.strip() else None)
        if word == "analysis" and not rest:
            return Analysis()
        if word.rstrip("%").isdigit() and not rest:
            return SetWeight(_percent(word.rstrip("%")))
    raise BadInput(f"not a canary step: {item!r}", hint=_STEP_HINT)


def _percent(value: Any) -> int:
    text = str(value).strip().rstrip("%")
    if not text.isdigit() or not 0 <= int(text) <= 100:
        raise BadInput(f"a canary weight is 0 to 100, not '{value}'", hint=_STEP_HINT)
    return int(text)


def _seconds(value: Any) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise BadInput(f"not a duration: '{value}'", hint="30s, 1m, 500ms")
    return seconds


def build_plan(
    steps: str | Sequence[Any] | None, gates: Sequence[str], options: Mapping[str, Any]
) -> CanaryPlan:
    """A validated plan from steps, gate expressions and analysis options (`interval`,
    `count`, `failure_limit`, `min_requests`; None means the default)."""
    parsed = tuple(parse_promql_gate(t) if is_promql(t) else parse_gate(t) for t in gates)
    unknown = sorted(set(options) - {"interval", "count", "failure_limit", "min_requests"})
    if unknown:
        raise BadInput(f"unknown analysis setting '{unknown[0]}'",
                       hint="interval, count, failure_limit, min_requests")  # fmt: skip
    defaults = AnalysisSettings()
    given = {key: value for key, value in options.items() if value is not None}
    interval = _seconds(given.get("interval", defaults.interval))
    count = _whole(given.get("count", defaults.count), "analysis count", 1)
    limit = _whole(given.get("failure_limit", defaults.failure_limit), "failure limit", 0)
    minimum = _whole(given.get("min_requests", defaults.min_requests), "min requests", 0)
    if interval <= 0:
        raise BadInput("the analysis interval must be above 0", hint="--analysis-interval 2s")
    analysis = AnalysisSettings(parsed, interval, count, limit, minimum)
    written = DEFAULT_STEPS if steps is None else steps
    return CanaryPlan(parse_steps(written, bool(parsed)), analysis)


def blue_green_plan(canary: CanaryPlan, auto_promote: bool, scale_down_delay: Any) -> CanaryPlan:
    """A blue-green with `canary`'s analysis: 0 %, analysis (with gates), a pause unless
    `auto_promote`, 100 %."""
    steps: list[CanaryStep] = [SetWeight(0)]
    steps += [Analysis()] if canary.analysis.gates else []
    steps += [] if auto_promote else [Pause(None)]
    delay = _seconds(DEFAULT_SCALE_DOWN_DELAY if scale_down_delay is None else scale_down_delay)
    return CanaryPlan((*steps, SetWeight(100)), canary.analysis, True, delay)


def _whole(value: Any, what: str, least: int) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < least:
        raise BadInput(f"{what} must be a whole number from {least}, not '{value}'",
                       hint=f"e.g. {max(least, 3)}")  # fmt: skip
    return int(text)


def canary_replicas(percent: int, desired: int) -> int:
    """Replicas of the new version a weight calls for (at least 1: header routing and
    weight 0 still need one; all of them at 100 %)."""
    return max(1, min(desired, math.ceil(desired * percent / 100)))


def approximate_percent(canary: int, stable: int) -> int:
    """The share of requests `canary` replicas get beside `stable` ones when requests
    spread evenly over replicas (a project with no traffic layer)."""
    return round(100 * canary / max(1, canary + stable))


def server_weights(percent: int, canary: int, stable: int) -> tuple[int, int]:
    """Per-server weights (canary, stable) so that the canary servers together get
    `percent` % of requests: the pair in HAProxy's range (1-256) closest to it, smallest
    first on a tie."""
    if canary == 0 or stable == 0 or percent in (0, 100):
        return (0 if percent == 0 else 1), (0 if percent == 100 else 1)
    best: tuple[float, int, int] | None = None
    for per_canary in range(1, MAX_WEIGHT + 1):
        per_stable = round(per_canary * (100 - percent) * canary / (percent * stable))
        if not 1 <= per_stable <= MAX_WEIGHT:
            continue
        share = 100 * per_canary * canary / (per_canary * canary + per_stable * stable)
        if best is None or abs(share - percent) < best[0] - 1e-9:
            best = (abs(share - percent), per_canary, per_stable)
    if best is None:  # the shares are too far apart for the range: the nearest end
        return (1, MAX_WEIGHT) if percent < 50 else (MAX_WEIGHT, 1)
    return best[1], best[2]
