"""Canaries as the facade runs them: the plan from agentlab.yaml and the command line, the
runner wired to the traffic layer's weights and meter, and `agentlab promote` / `abort` /
`weight` from another process (a request file the running canary picks up within 0.1 s)."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentlab.common.errors import BadInput
from agentlab.lab import prometheus
from agentlab.lab.model import ProjectModel
from agentlab.lab.traffic_layer import TrafficLayer
from agentlab.lab.unfinished import interrupted
from agentlab.project.config import canary_settings
from agentlab.rollout.canary import STRATEGIES, CanaryPlan, Pause, blue_green_plan, step_line
from agentlab.rollout.canary_requests import Request, read_request, request_word
from agentlab.rollout.canary_runner import Meter
from agentlab.rollout.journal import resume_hint
from agentlab.state.directory import usable_directory
from agentlab.traffic import metrics
from agentlab.traffic.metrics import VersionFigures

# Command-line options that shape a canary (the rest are rollout settings).
PLAN_OPTIONS = ("steps", "gates", "interval", "count", "failure_limit", "min_requests")
CANARY_OPTIONS = (*PLAN_OPTIONS, "auto_promote", "scale_down_delay")
PLAN_KEY = "canary_plan"  # where the first canary step's journal detail keeps the plan


def wants_canary(model: ProjectModel, service: str, options: Mapping[str, Any]) -> bool:
    """`--strategy canary`, or a service with a canary in agentlab.yaml and no other
    strategy asked for."""
    strategy = options.get("strategy")
    return strategy in STRATEGIES or (strategy is None and service in model.project.settings.canary)


def plan_canary(
    model: ProjectModel,
    layer: TrafficLayer,
    service: str,
    options: Mapping[str, Any],
    behind: Collection[str] | None = None,
) -> tuple[CanaryPlan, dict[str, Any]]:
    """The validated canary of `service`, and the record that rebuilds it on resume.
    `behind`: the services behind the traffic layer when it runs (default: now)."""
    entry = model.project.settings.canary.get(service, {})
    given = {key: options.get(key) for key in PLAN_OPTIONS}
    blue_green = options.get("strategy") == "blue-green"
    if blue_green and given["steps"] is not None:
        raise BadInput("a blue-green has no steps to give",
                       hint="--auto-promote, --scale-down-delay, gates")  # fmt: skip
    plan = canary_settings(entry, given)
    if blue_green:
        auto = bool(options.get("auto_promote"))
        plan = blue_green_plan(plan, auto, options.get("scale_down_delay"))
    elif options.get("auto_promote") or options.get("scale_down_delay") is not None:
        raise BadInput("--auto-promote and --scale-down-delay belong to a blue-green",
                       hint="--strategy blue-green")  # fmt: skip
    if (plan.analysis.gates or blue_green) and service not in (
        layer.services if behind is None else behind
    ):
        what = "a blue-green hides its new set behind" if blue_green else "gates read"
        raise BadInput(f"{what} the traffic layer; {service} is not behind it",
                       hint=f"agentlab up --traffic-layer {service}")  # fmt: skip
    prometheus.check_gates(model, plan)
    analysis = plan.analysis
    record = {
        "steps": [step.line() for step in plan.steps],
        "gates": [gate.text for gate in analysis.gates],
        "analysis": {
            "interval": analysis.interval,
            "count": analysis.count,
            "failure_limit": analysis.failure_limit,
            "min_requests": analysis.min_requests,
        },
        "blue_green": plan.scale_down_delay if plan.blue_green else None,
    }
    return plan, {PLAN_KEY: record}


def recorded_plan(steps: list[dict[str, Any]]) -> tuple[CanaryPlan, int] | None:
    """From a journal entry's steps: the canary plan and the position of the step it
    stopped in (it runs again); None for a rollout that was no canary."""
    canary = [step["detail"] for step in steps if step.get("action") == "canary"]
    if not canary or PLAN_KEY not in canary[0]:
        return None
    record = canary[0][PLAN_KEY]
    steps_written = [_step_word(line) for line in record["steps"]]
    plan = canary_settings({}, {"steps": steps_written, "gates": record["gates"],
                                **record["analysis"]})  # fmt: skip
    if record.get("blue_green") is not None:
        auto = not any(isinstance(step, Pause) for step in plan.steps)
        plan = blue_green_plan(plan, auto, record["blue_green"])
    return plan, int(canary[-1]["canary_step"])


def _step_word(line: str) -> str:
    """A step as the command line writes it, from its journaled line."""
    if line.startswith("set weight "):
        return line.removeprefix("set weight ")
    if line == "pause until promoted":
        return "pause"
    return line


def meter(layer: TrafficLayer, service: str) -> Meter | None:
    """The service's per-version counters from the traffic layer (None: not behind it)."""
    if service not in layer.services:
        return None
    frontend = next(f for f in layer.frontends() if f.service == service)
    url = layer.metrics_url()

    def read() -> dict[str, VersionFigures]:
        found = metrics.read(url)
        return metrics.of_backends(found, [frontend.backend, frontend.canary_backend])

    return read


def send_request(model: ProjectModel, service: str, request: Request) -> None:
    """Ask the canary of `service` running in another process to promote, abort or take a
    weight; BadInput when none runs (or a weight for a blue-green, which has none)."""
    model.service(service)
    running = [
        entry for entry in model.history().unfinished(service)
        if entry.state == "running" and entry.owner_alive()
        and any(step.get("action") == "canary" for step in entry.steps)
    ]  # fmt: skip
    if not running:
        hint = f"agentlab rollout {service} --to VERSION --strategy canary"
        if interrupted(model.history(), service):  # its weight holds until then
            hint = f"its rollout was interrupted: {resume_hint(service)}"
        raise BadInput(f"no canary of {service} is running", hint=hint)
    canary = [s["detail"] for s in running[0].steps if s.get("action") == "canary"]
    blue_green = (canary[0].get(PLAN_KEY) or {}).get("blue_green") is not None
    if blue_green and not isinstance(request, str):
        raise BadInput(f"the blue-green of {service} switches all at once: it has no weight to set",
                       hint=f"agentlab promote {service} or agentlab abort {service}")  # fmt: skip
    CanaryRequests(model.state_dir).send(service, request)


def request_taken(model: ProjectModel, service: str) -> bool:
    """Whether the running canary has picked up the last request sent."""
    return not (CanaryRequests(model.state_dir).folder / service).exists()


@dataclass(frozen=True)
class CanaryView:
    """A canary running now, or left unfinished (interrupted, paused), as `status` shows
    it: an unfinished one's weights hold until `rollout resume` or `undo`."""

    service: str
    from_version: str
    to_version: str
    step: str  # the step it is in: `set weight 50%`, `analysis`...
    position: int  # 1-based
    steps: int
    shares: Mapping[str, int]  # version -> % of the weights (empty: no traffic layer)
    strategy: str  # `canary` or `blue-green`
    state: str = "running"  # or `interrupted`, `paused`: no process runs it

    @property
    def running(self) -> bool:
        return self.state == "running"

    def line(self) -> str:
        shares = ", ".join(f"{v} {p}%" for v, p in sorted(self.shares.items()))
        weights = f"; weights {shares}" if shares else ""
        stopped = "" if self.running else f", {self.state} (rollout resume or undo)"
        return (f"{self.strategy}: {self.service} {self.from_version} -> {self.to_version}, step "
                f"{self.position} of {self.steps} ({self.step}){stopped}{weights}")  # fmt: skip


def unfinished_canaries(model: ProjectModel, layer: TrafficLayer) -> dict[str, CanaryView]:
    """The canaries running now or left unfinished, by service, with the traffic layer's
    shares."""
    if not model.has_history():
        return {}
    history = model.history()
    stopped = {entry.rollout_id for entry in interrupted(history)}
    found = {}
    for entry in history.unfinished():
        canary = [s["detail"] for s in entry.steps if s.get("action") == "canary"]
        if not canary:
            continue
        if entry.rollout_id in stopped:
            state = "paused" if entry.state == "paused" else "interrupted"
        elif entry.state == "running" and entry.owner_alive():
            state = "running"
        else:
            continue
        record = canary[0].get(PLAN_KEY) or {}
        step = step_line(canary[-1]["description"]) or canary[-1]["description"]
        found[entry.service] = CanaryView(
            entry.service, entry.from_version, entry.to_version, step,
            int(canary[-1]["canary_step"]) + 1, len(record.get("steps", [])),
            _shares(layer, entry.service),
            "blue-green" if record.get("blue_green") is not None else "canary",
            state,
        )  # fmt: skip
    return found


def _shares(layer: TrafficLayer, service: str) -> dict[str, int]:
    """Each version's share of the weights on the service's first proxied port."""
    gate = layer.gate(service)
    if gate is None or not gate.frontends:
        return {}
    weights: dict[str, int] = {}
    for route in gate.router.routes(gate.frontends[0].backend):
        if route.state == "ready":
            weights[route.version] = weights.get(route.version, 0) + route.weight
    total = sum(weights.values())
    return {v: round(100 * w / total) for v, w in weights.items()} if total else {}


class CanaryRequests:
    """`agentlab promote`, `abort` and `weight` for a canary running in another process:
    one file per service in the project's state directory, holding the request's word."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "canary-requests"

    def send(self, service: str, request: Request) -> None:
        usable_directory(self.folder)
        temporary = self.folder / f".{service}.{os.getpid()}"
        temporary.write_text(request_word(request), encoding="utf-8")
        temporary.replace(self.folder / service)  # atomic: never half a word

    def take(self, service: str) -> Request | None:
        """The request waiting for `service`, once (it is removed)."""
        path = self.folder / service
        try:
            word = path.read_text(encoding="utf-8").strip()
            path.unlink()
        except FileNotFoundError:
            return None
        return read_request(word)

    def clear(self, service: str) -> None:
        """Forget a request left from an earlier canary."""
        (self.folder / service).unlink(missing_ok=True)
