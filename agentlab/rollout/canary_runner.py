"""Carry out a canary: replicas of the new version beside the stable ones, requests split
by weight, metric gates between the steps, then promotion or an abort.

Replicas come and go through the rolling runner (rollout/runner.py), so a canary replica
answers the name only once ready and leaves it before it is stopped, as in any rollout:
- `setWeight N` (below 100): run the canary replicas N calls for beside the stable ones
  (the runner leaves those alone), then split requests N/100-N by weight;
- `setWeight 100` (promotion): run the full set of new replicas, send every request to
  them, then remove the stable ones (the runner's usual rolling end, with its monitor);
- a failed gate, a failed replica or `agentlab abort`: every request back to the stable
  replicas, then the canary replicas removed; the rollout ends `rolled-back` (exit 1);
- `agentlab weight` (a weight set by hand, rollout/canary_requests.py): that weight now,
  then a hold there (gates still read) until promote, abort or another weight.
Each canary step is journaled with its position, so `rollout resume` continues from the
step it stopped in and `rollout undo` returns to the stable version.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import Any

from agentlab.engine.model import ServiceSpec
from agentlab.engine.protocol import Engine
from agentlab.rollout.canary import (
    Analysis,
    CanaryPlan,
    CanaryStep,
    Pause,
    SetWeight,
    approximate_percent,
    canary_replicas,
)
from agentlab.rollout.canary_requests import Request, WeightRequest, held_line
from agentlab.rollout.canary_signals import (
    Aborted,
    PauseAsked,
    PromoteAsked,
    StepJournal,
    WeightAsked,
)
from agentlab.rollout.events import (
    GateChecked,
    OldSetKept,
    Paused,
    RollbackStarted,
    RolloutEvent,
    RolloutFinished,
    RolloutStarted,
    StepStarted,
    WeightSet,
)
from agentlab.rollout.gate import TrafficGate
from agentlab.rollout.gates import Gate, Reading, judge
from agentlab.rollout.journal import Journal, Outcome, resume_hint
from agentlab.rollout.phase import RolloutResult
from agentlab.rollout.promql_gates import PromQLGate, PromQLReading, Query, duration, read_promql
from agentlab.rollout.runner import ROLLBACK_LABEL, RolloutRunner
from agentlab.rollout.settings import RolloutSettings
from agentlab.traffic.metrics import (
    PROXY_MADE,
    MeterReading,
    MeterUnreadable,
    VersionFigures,
    between,
)

Meter = Callable[[], Mapping[str, VersionFigures]]  # per version, counters so far
REQUEST_POLL = 0.1  # s between looks for `agentlab promote` / `abort` / `weight`


# The rolling runners a canary drives, built by the facade: (service, settings, replicas
# to leave alone, journal, event sink, first step number).
Runners = Callable[
    [ServiceSpec, RolloutSettings, Collection[str], Journal, Callable[[RolloutEvent], None], int],
    RolloutRunner,
]


class CanaryRunner:
    """One canary of one service, from the stable image to the new one."""

    def __init__(
        self,
        engine: Engine,
        service: ServiceSpec,
        settings: RolloutSettings,
        plan: CanaryPlan,
        runners: Runners,
        emit: Callable[[RolloutEvent], None],
        journal: Journal,
        rollout_id: str,
        *,
        gate: TrafficGate,
        exact: bool,
        label: str,
        meter: Meter | None,
        stable_label: str = "",
        requests: Callable[[], Request | None],
        wait: Callable[[float], object],
        clock: Callable[[], float] = time.monotonic,
        first_step: int = 1,
        plan_detail: Mapping[str, Any] | None = None,
        preview: str = "",
        pause_requested: Callable[[], bool] = lambda: False,
        prometheus: Query | None = None,
    ) -> None:
        self.engine, self.service, self.settings, self.plan = engine, service, settings, plan
        self.runners, self.emit, self.journal, self.rollout_id = runners, emit, journal, rollout_id
        self.gate, self.exact, self.meter = gate, exact, meter
        self.label = label  # the new version as server names and metrics carry it
        self.stable_label = stable_label  # the version rolled from, as they carry it
        self.requests, self.wait, self.clock = requests, wait, clock
        self._index = first_step - 1
        self._inner_journals: list[StepJournal] = []
        self.plan_detail = dict(plan_detail or {})
        self.preview = preview  # the new version alone, for the user to try
        self.pause_requested = pause_requested
        self.prometheus = prometheus  # evaluates PromQL gates (None: no Prometheus)

    def run(
        self,
        from_image: str,
        to_image: str,
        from_version: str,
        to_version: str,
        start_at: int = 0,
    ) -> RolloutResult:
        """The canary from step `start_at` (0-based; resume passes where it stopped)."""
        started = self.clock()
        steps = " -> ".join(step.line() for step in self.plan.steps)
        self.emit(RolloutStarted(self.service.name, from_version, to_version,
                                 self.service.replicas, self.plan.strategy, steps))  # fmt: skip
        self.journal.set_rollout_state(self.rollout_id, "running")
        stable = {r.id for r in self.engine.replicas(self.service.name) if r.image_ref != to_image}
        self.gate.split(self.label, 0)  # canary replicas join at weight 0 until their step
        try:
            self._restore(stable, to_image, to_version, start_at)
            outcome, message, failures = self._steps(stable, to_image, to_version, start_at)
        except Aborted as abort:
            outcome, message, failures = self._abort(abort.reason, from_image, from_version)
        except PauseAsked:
            outcome, message, failures = "paused", "paused on request", []
            self.emit(Paused(message, self._resume_hint()))
        duration = self.clock() - started
        self.emit(RolloutFinished(outcome, message, duration))
        self.journal.set_rollout_state(self.rollout_id, outcome)
        hint = {"complete": "", "paused": self._resume_hint()}.get(outcome, self._failed_hint())
        return RolloutResult(outcome, message, duration, tuple(failures), hint)

    def _failed_hint(self) -> str:
        """Where to look after an abort; a blue-green's analysis reads the requests sent
        to its preview (or with the header), as no user request reaches green before."""
        if self.plan.blue_green and self.preview:
            return (f"send requests to the preview {self.preview} (or with X-Canary: always) "
                    "during its analysis; agentlab history")  # fmt: skip
        return "agentlab history; agentlab traffic"

    def _resume_hint(self) -> str:
        name = self.service.name
        return resume_hint(name)

    def _restore(self, stable: set[str], image: str, version: str, start_at: int) -> None:
        """On resume: the weight the steps before `start_at` had set, again (the next
        command puts every server back at the same weight)."""
        earlier = [s for s in self.plan.steps[:start_at] if isinstance(s, SetWeight)]
        if earlier and not isinstance(self.plan.steps[start_at], SetWeight):
            self._set_weight(earlier[-1].percent, stable, image, version)

    def _steps(
        self, stable: set[str], image: str, version: str, start_at: int
    ) -> tuple[Outcome, str, list[Any]]:
        for position in range(start_at, len(self.plan.steps)):
            step = self.plan.steps[position]
            index = self._begin(step.line(), position)
            try:
                self._take(step, stable, image, version)
            except WeightAsked as manual:
                self.journal.step_done(self.rollout_id, index)
                self._hold(manual.percent, position, stable, image, version)
                return self._steps(stable, image, version, len(self.plan.steps) - 1)
            except PromoteAsked:  # on to the last step: 100 %
                self.journal.step_done(self.rollout_id, index)
                return self._steps(stable, image, version, len(self.plan.steps) - 1)
            if isinstance(step, SetWeight) and step.percent == 100:
                return self._promote(stable, image, version, index)
            self.journal.step_done(self.rollout_id, index)
        raise AssertionError("a canary plan ends at 100 %")  # parse_steps sees to it

    def _begin(self, line: str, position: int) -> int:
        """Journal a canary step (`position` in the plan; resume runs it again)."""
        self._index += 1
        description = f"{self.plan.strategy}: {line}"
        detail = {"description": description, "canary_step": position, **self.plan_detail}
        self.journal.step_begin(self.rollout_id, self._index, "canary", detail)
        self.emit(StepStarted(self._index, description))
        return self._index

    def _take(self, step: CanaryStep, stable: set[str], image: str, version: str) -> None:
        match step:
            case SetWeight(percent) if percent < 100:
                self._set_weight(percent, stable, image, version)
            case Pause(seconds):
                self._pause(seconds)
            case Analysis():
                self._analyse()

    # ---- weights ------------------------------------------------------------

    def _set_weight(self, percent: int, stable: set[str], image: str, version: str) -> None:
        """Run the canary replicas `percent` calls for, then split requests."""
        desired = len(stable) or self.service.replicas
        count = canary_replicas(percent, desired)
        if self.plan.blue_green:
            count = self.service.replicas  # the full new set, at once
        elif not self.exact:  # replicas are the only lever: as many as the share asks
            count = max(1, min(desired, round(desired * percent / max(1, 100 - percent))))
        self._run_canaries(count, stable, image, version)
        self._catch_up()
        exact = self.exact and self.gate.split(self.label, percent)
        shown = percent if exact else approximate_percent(count, len(stable))
        self.emit(WeightSet(version, shown, exact, count, len(stable), self.preview))

    def _run_canaries(self, count: int, stable: set[str], image: str, version: str) -> None:
        """`count` ready replicas of `image` beside the stable ones (started or removed)."""
        settings = replace(self.settings, max_surge="100%", max_unavailable="0",
                           parallelism=None, order=None, monitor=0.0)  # fmt: skip
        result = self._inner(replace(self.service, replicas=count), settings, stable).converge(
            image, version
        )
        self._check(result)

    def _check(self, result: RolloutResult) -> None:
        """An inner run's end: on, paused (the canary pauses), or failed (it aborts)."""
        if result.outcome == "paused" and self.pause_requested():
            raise PauseAsked()
        if result.outcome != "complete":
            raise Aborted(result.message.removeprefix("stopped: "))

    def _inner(
        self, service: ServiceSpec, settings: RolloutSettings, leave_alone: Collection[str]
    ) -> RolloutRunner:
        journal = StepJournal(self.journal)
        index = self._index

        def emit(event: RolloutEvent) -> None:
            if not isinstance(event, RolloutStarted | RolloutFinished):
                self.emit(event)

        runner = self.runners(service, settings, leave_alone, journal, emit, index + 1)
        self._inner_journals.append(journal)
        return runner

    def _hold(
        self, percent: int, position: int, stable: set[str], image: str, version: str
    ) -> None:
        """A weight set by hand: applied, then held (gates read round after round; a
        failed one aborts) until another weight, an abort (raised) or promote (returns).
        Journaled at the plan's `position`, so a resume runs that step again."""
        while True:
            index = self._begin(held_line(percent), position)
            try:
                self._set_weight(percent, stable, image, version)
                while True:
                    if self.plan.analysis.gates and self.meter is not None:
                        self._analyse(holding=True)
                    else:
                        self._wait_until(math.inf)
            except WeightAsked as manual:
                percent = manual.percent
            except PromoteAsked:
                self.journal.step_done(self.rollout_id, index)
                return
            self.journal.step_done(self.rollout_id, index)

    def _promote(
        self, stable: set[str], image: str, version: str, index: int
    ) -> tuple[Outcome, str, list[Any]]:
        """All new replicas, every request to them, the stable ones removed."""
        self._run_canaries(self.service.replicas, stable, image, version)
        self._catch_up()
        self.gate.split(self.label, 100, header_routing=False)
        self.emit(WeightSet(version, 100, self.exact, self.service.replicas, len(stable)))
        if self.plan.blue_green and self.plan.scale_down_delay > 0:
            self.emit(OldSetKept(self.service.name, self.plan.scale_down_delay))
            # An abort switches back at once (run() catches it); promote again ends the wait.
            with contextlib.suppress(PromoteAsked):
                self._wait_until(self.clock() + self.plan.scale_down_delay)
        self.journal.step_done(self.rollout_id, index)
        result = self._inner(self.service, self.settings, ()).converge(image, version)
        self._catch_up()
        self._check(result)
        return "complete", f"promoted: {result.message}", list(result.failures)

    def _catch_up(self) -> None:
        """Continue the journal's numbering after the inner runs' steps."""
        self._index = max([self._index, *(j.last for j in self._inner_journals)])

    # ---- pauses and analysis ------------------------------------------------

    def _pause(self, seconds: float | None) -> None:
        """Wait `seconds` (None: until promoted); promote or abort cut it short."""
        self._wait_until(self.clock() + (math.inf if seconds is None else seconds))

    def _sleep(self, seconds: float) -> None:
        """Sleep a little; act on a promote or abort request, or a pause."""
        if self.pause_requested():
            raise PauseAsked()
        request = self.requests()
        if request == "abort":
            raise Aborted("aborted on request")
        if request == "promote":
            raise PromoteAsked()
        if isinstance(request, WeightRequest) and not self.plan.blue_green:
            raise WeightAsked(request.percent)
        if seconds > 0:
            self.wait(seconds)

    def _wait_until(self, deadline: float) -> None:
        while (left := deadline - self.clock()) > 0:
            self._sleep(min(REQUEST_POLL, left))

    def _analyse(self, holding: bool = False) -> None:
        """Read the gates every interval; abort past the failure limit, and (unless
        `holding` at a weight set by hand) when no reading had enough requests."""
        analysis = self.plan.analysis
        if self.meter is None:
            raise Aborted("no per-version metrics to analyse (the service has no traffic layer)")
        before, failed, conclusive = self._reading(), 0, 0
        reasons: dict[str, None] = {}  # why intervals were inconclusive, each once, in order
        few = f"fewer than {analysis.min_requests} canary requests"
        version = self.label
        deadline = self.clock()
        for _ in range(analysis.count):
            deadline += analysis.interval
            self._wait_until(deadline)
            now = self._reading()
            window = between(now, before)
            # after a failed reading, the next window counts from the last whole one: exact
            before = before if isinstance(now, MeterUnreadable) else now
            if isinstance(window, MeterUnreadable):  # no verdict from a failed reading
                reasons[window.message] = None
                for gate in analysis.gates:
                    named = f"{gate.text}: " if gate.text.startswith("promql:") else ""
                    line = f"{named}unknown ({window.message})"
                    self.emit(GateChecked(gate.text, "inconclusive", line))
                continue
            stable_version = self._stable_version(window)
            canary = window.get(version, VersionFigures())
            stable = window.get(stable_version, VersionFigures())
            readings = [self._read(g, canary, stable, stable_version) for g in analysis.gates]
            for reading in readings:
                self.emit(GateChecked(reading.gate.text, reading.verdict, reading.line()))
            failing = [r for r in readings if r.verdict == "fail"]
            conclusive += all(r.verdict != "inconclusive" for r in readings)
            failed += bool(failing)
            if failed > analysis.failure_limit:
                raise Aborted(f"gate failed: {failing[0].line()}")
            if any(r.verdict == "inconclusive" for r in readings):
                notes = [r.note for r in readings if r.note]
                reasons[notes[0] if notes else few] = None
        if not holding and conclusive == 0:
            found = list(reasons) or [few]
            if len(found) == 1:
                raise Aborted(f"analysis inconclusive: {found[0]} in every interval")
            raise Aborted(f"analysis inconclusive in every interval: {'; '.join(found)}")

    def _reading(self) -> MeterReading:
        """The meter's counters now, or why it gave none (the interval is then unknown)."""
        assert self.meter is not None  # _analyse checks
        try:
            return self.meter()
        except MeterUnreadable as error:
            return error

    def _stable_version(self, window: Mapping[str, VersionFigures]) -> str:
        """The version the stable replicas run, as the interval's figures label it: the
        one rolled from when it had requests, else the busiest other than the canary
        (never the totals since the proxy started, where a version gone long ago may lead)."""
        if window.get(self.stable_label, VersionFigures()).requests:
            return self.stable_label
        return _other(window, self.label)

    def _read(
        self,
        gate: Gate | PromQLGate,
        canary: VersionFigures,
        stable: VersionFigures,
        stable_version: str,
    ) -> Reading | PromQLReading:
        """One gate over one interval: from the meter's figures, or Prometheus' answer."""
        minimum = self.plan.analysis.min_requests
        if not isinstance(gate, PromQLGate):
            return judge(gate, canary, stable, minimum)
        values = {"canary": self.label, "stable": stable_version, "service": self.service.name,
                  "interval": duration(self.plan.analysis.interval)}  # fmt: skip
        return read_promql(gate, self.prometheus, values, canary.requests, minimum)

    # ---- abort --------------------------------------------------------------

    def _abort(self, reason: str, image: str, version: str) -> tuple[Outcome, str, list[Any]]:
        """Every request to the stable replicas, then the canary replicas removed."""
        self._catch_up()
        self._index += 1  # journaled first: a resume after a cut here finishes the abort
        self.journal.step_begin(self.rollout_id, self._index, "rollback",
                                {"description": f"{ROLLBACK_LABEL}{reason}"})  # fmt: skip
        self.journal.step_done(self.rollout_id, self._index)
        self.emit(RollbackStarted(reason, self._index))
        split = self.gate.split(self.label, 0, header_routing=False)
        if self.exact and split:
            present = self.engine.replicas(self.service.name)
            stable = sum(1 for r in present if r.image_ref == image)
            self.emit(WeightSet(self.label, 0, True, len(present) - stable, stable))
        back = self._inner(self.service, self.settings, ()).converge(image, version, back=True)
        self._catch_up()
        if back.outcome != "complete":
            return "failed", f"{reason}; the abort failed too: {back.message}", []
        return "rolled-back", f"{reason}; back on {version}", []


def _other(figures: Mapping[str, VersionFigures], version: str) -> str:
    """The busiest version in `figures` other than `version` (and the proxy's own)."""
    others = [(f.requests, v) for v, f in figures.items() if v not in (version, PROXY_MADE)]
    return max(others)[1] if others else ""
