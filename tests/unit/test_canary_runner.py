"""The canary runner against the fake engine: weights and replicas per step, gates that
pass and fail, promote and abort requests, journaled positions. A fake meter serves 100
requests a second split by the weights the gate was given."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import NEVER_HEALTHY
from agentlab.engine.fake_streams import FakeChanges
from agentlab.engine.model import Replica, ServiceSpec
from agentlab.rollout.canary import CanaryPlan, blue_green_plan, build_plan
from agentlab.rollout.canary_requests import Request, WeightRequest
from agentlab.rollout.canary_runner import CanaryRunner
from agentlab.rollout.events import (
    GateChecked,
    OldSetKept,
    ReplicaRemoved,
    RollbackStarted,
    RolloutEvent,
    RolloutFinished,
    RolloutStarted,
    StepStarted,
    WeightSet,
)
from agentlab.rollout.journal import Journal
from agentlab.rollout.phase import RolloutResult
from agentlab.rollout.promql_gates import Query
from agentlab.rollout.runner import RolloutRunner
from agentlab.rollout.settings import RolloutSettings, build_settings
from agentlab.traffic.metrics import MeterUnreadable, VersionFigures
from tests.unit.test_runner import Journal as RecordingJournal

OLD, NEW = "agent:1.0", "agent:2.0"


@dataclass
class SplitGate:
    """A traffic layer in memory: the replicas it routes to and the canary's weight."""

    routed: dict[str, str] = field(default_factory=dict)  # replica id -> version
    splits: list[tuple[str, int]] = field(default_factory=list)
    exact: bool = True

    def admit(self, replica: Replica) -> None:
        self.routed[replica.id] = replica.image_ref.rsplit(":", 1)[1]

    def withdraw(self, replica: Replica) -> bool:
        return self.routed.pop(replica.id, None) is not None

    def forget(self, replica: Replica) -> None:
        self.routed.pop(replica.id, None)

    def split(self, version: str, percent: int, header_routing: bool = True) -> bool:
        if self.exact:
            self.splits.append((version, percent))
        return self.exact

    def share(self, version: str) -> float:
        """The share of requests `version` gets now."""
        if self.splits and self.exact:
            wanted, percent = self.splits[-1]
            return percent / 100 if version == wanted else 1 - percent / 100
        versions = list(self.routed.values())
        return versions.count(version) / max(1, len(versions))


@dataclass
class FakeMeter:
    """Counters that grow with the fake clock: `rps` requests a second, split as the
    gate says; the new version answers `errors` of its requests with a 5xx."""

    gate: SplitGate
    clock: Callable[[], float]
    errors: float = 0.0
    rps: int = 100
    counts: dict[str, VersionFigures] = field(default_factory=dict)
    last: float = 0.0
    unreadable: Callable[[int], bool] = lambda reading: False  # readings (from 0) that fail
    readings: int = 0

    def __call__(self) -> dict[str, VersionFigures]:
        self.readings += 1
        if self.unreadable(self.readings - 1):  # the traffic went on; its reading failed
            self.count()
            raise MeterUnreadable("the traffic layer's meter answered 503: cut short", "again")
        return self.count()

    def count(self) -> dict[str, VersionFigures]:
        now = self.clock()
        total = int((now - self.last) * self.rps)
        self.last = now
        for version in ("1.0", "2.0"):
            served = round(total * self.gate.share(version))
            bad = round(served * self.errors) if version == "2.0" else 0
            old = self.counts.get(version, VersionFigures())
            codes = {"2xx": old.codes.get("2xx", 0) + served - bad,
                     "5xx": old.codes.get("5xx", 0) + bad}  # fmt: skip
            buckets = {0.005: old.buckets.get(0.005, 0) + served}
            self.counts[version] = VersionFigures(codes, buckets, old.count + served)
        return dict(self.counts)


@dataclass
class CanaryRig:
    fake: FakeEngine = field(default_factory=FakeEngine)
    gate: SplitGate = field(default_factory=SplitGate)
    journal: RecordingJournal = field(default_factory=RecordingJournal)
    events: list[RolloutEvent] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    scripted: list[tuple[float, Request]] = field(default_factory=list)
    prometheus: Query | None = None  # evaluates PromQL gates
    preview: str = ""  # a blue-green's preview address

    def __post_init__(self) -> None:
        self.fake.add_image(OLD)
        self.fake.add_image(NEW)
        self.fake.add_service("agent", OLD, 3)
        self.spec = ServiceSpec("agent", OLD, None, 3)
        self.meter = FakeMeter(self.gate, self.fake.clock.now)

    def requests(self) -> Request | None:
        if self.scripted and self.fake.clock.now() >= self.scripted[0][0]:
            return self.scripted.pop(0)[1]
        return None

    def runners(
        self,
        service: ServiceSpec,
        settings: RolloutSettings,
        leave_alone: Collection[str],
        journal: Journal,
        emit: Callable[[RolloutEvent], None],
        first_step: int,
    ) -> RolloutRunner:
        return RolloutRunner(
            self.fake, service, settings, lambda ref: self.fake.pin("agent", ref), emit,
            journal, "r1", clock=self.fake.clock.now, first_step=first_step,
            feed=FakeChanges(self.fake.clock, nap=0.0), poll_interval=0.25, gate=self.gate,
            leave_alone=leave_alone, final=False,
        )  # fmt: skip

    def run(
        self, plan: CanaryPlan, start_at: int = 0, pause_at: float | None = None
    ) -> RolloutResult:
        feed = FakeChanges(self.fake.clock, nap=0.0)

        def pause() -> bool:
            return pause_at is not None and self.fake.clock.now() >= pause_at

        runner = CanaryRunner(
            self.fake, self.spec, build_settings({"monitor": 1}), plan, self.runners,
            self.record, self.journal, "r1", gate=self.gate, exact=self.gate.exact,
            label="2.0", stable_label="1.0", meter=self.meter, requests=self.requests,
            wait=feed.wait,
            clock=self.fake.clock.now, pause_requested=pause, prometheus=self.prometheus,
            preview=self.preview,
        )  # fmt: skip
        return runner.run(OLD, NEW, "1.0", "2.0", start_at)

    def record(self, event: RolloutEvent) -> None:
        self.events.append(event)
        self.times.append(self.fake.clock.now())

    def of(self, kind: type[RolloutEvent]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    def images(self) -> list[str]:
        return sorted(self.fake.images_of("agent"))


GATED = {"interval": "1s", "count": 2, "min_requests": 5}


def test_a_good_canary_goes_10_50_100_with_analysis_and_ends_on_the_new_version() -> None:
    rig = CanaryRig()
    result = rig.run(build_plan("10,50,100", ["error_rate < 1%"], GATED))
    assert result.outcome == "complete", result.message
    assert rig.images() == [NEW] * 3
    assert rig.gate.splits == [("2.0", 0), ("2.0", 10), ("2.0", 50), ("2.0", 100)]
    assert [(e.percent, e.canary_replicas) for e in rig.of(WeightSet)] == [(10, 1), (50, 2),
                                                                          (100, 3)]  # fmt: skip
    assert {e.verdict for e in rig.of(GateChecked)} == {"pass"}
    assert len(rig.of(RolloutStarted)) == len(rig.of(RolloutFinished)) == 1
    assert rig.journal.states == ["running", "complete"]
    positions = [d["canary_step"] for _, action, d in rig.journal.begun if action == "canary"]
    assert positions == [0, 1, 2, 3, 4]
    indexes = [index for index, _, _ in rig.journal.begun]
    assert indexes == sorted(set(indexes))  # one numbering across the canary and its runs


def test_a_relative_gate_compares_with_the_version_rolled_from_not_the_busiest_ever() -> None:
    """The proxy's totals since it started led with a version released long ago: the gate
    compared with it, found no stable figures in any interval and aborted, saying there
    were too few canary requests."""
    rig = CanaryRig()
    rig.meter.counts["0.9"] = VersionFigures({"2xx": 10**6}, {0.005: 10**6}, 10**6)
    result = rig.run(build_plan("10,100", ["p99 < 1.5 * stable.p99"], GATED))
    assert result.outcome == "complete", result.message
    assert {e.verdict for e in rig.of(GateChecked)} == {"pass"}


def test_a_canary_with_errors_fails_its_gate_and_everything_goes_back_to_stable() -> None:
    rig = CanaryRig()
    rig.meter.errors, rig.meter.rps = 0.05, 1000
    result = rig.run(build_plan("10,50,100", ["error_rate < 1%"], GATED))
    assert result.outcome == "rolled-back"
    assert result.message.startswith("gate failed: error_rate 5%")
    assert "limit < 1%" in result.message
    assert rig.images() == [OLD] * 3
    assert rig.gate.splits[1:] == [("2.0", 10), ("2.0", 0)]  # to stable before any removal
    [abort] = [d for _, action, d in rig.journal.begun if action == "rollback"]
    assert abort["description"].startswith("rollback: gate failed")  # resume ends the abort
    assert set(rig.gate.routed.values()) == {"1.0"}
    assert len(rig.of(RollbackStarted)) == 1
    assert [e.verdict for e in rig.of(GateChecked)] == ["fail"]  # aborted at the first


def test_an_analysis_with_too_few_requests_is_inconclusive_and_aborts() -> None:
    rig = CanaryRig()
    rig.meter.rps = 1
    result = rig.run(build_plan("10,100", ["error_rate < 1%"], GATED))
    assert result.outcome == "rolled-back"
    assert "inconclusive" in result.message


def test_a_pause_waits_for_promote_which_skips_to_100() -> None:
    rig = CanaryRig(scripted=[(30.0, "promote")])
    result = rig.run(build_plan("10,pause,50,100", [], {}))
    assert result.outcome == "complete"
    assert rig.fake.clock.now() >= 30.0
    assert rig.gate.splits[1:] == [("2.0", 10), ("2.0", 100)]  # 50 % skipped
    assert rig.images() == [NEW] * 3


def test_abort_during_a_pause_returns_to_stable() -> None:
    rig = CanaryRig(scripted=[(5.0, "abort")])
    result = rig.run(build_plan("50,pause 1m,100", [], {}))
    assert result.outcome == "rolled-back"
    assert result.message == "aborted on request; back on 1.0"
    assert rig.images() == [OLD] * 3
    assert rig.fake.clock.now() < 60.0


def test_without_a_traffic_layer_the_share_is_a_replica_count_said_to_be_approximate() -> None:
    rig = CanaryRig(gate=SplitGate(exact=False))
    result = rig.run(build_plan("10,50,100", [], {}))
    assert result.outcome == "complete"
    weights = rig.of(WeightSet)
    assert [(e.percent, e.exact, e.canary_replicas) for e in weights[:2]] == [
        (25, False, 1), (50, False, 3),
    ]  # fmt: skip
    assert "approximately" in weights[0].line()


def test_a_canary_that_never_gets_healthy_aborts_at_its_first_step() -> None:
    rig = CanaryRig()
    rig.fake.add_image(NEW, NEVER_HEALTHY)
    result = rig.run(build_plan("10,100", [], {}))
    assert result.outcome == "rolled-back"
    assert rig.images() == [OLD] * 3
    assert rig.gate.splits == [("2.0", 0), ("2.0", 0)]  # joined at 0, never raised


def test_resume_starts_at_the_recorded_step() -> None:
    rig = CanaryRig()
    plan = build_plan("10,50,100", [], {})
    result = rig.run(plan, start_at=1)
    assert result.outcome == "complete"
    assert rig.gate.splits[1:] == [("2.0", 50), ("2.0", 100)]


def blue_green(auto: bool = True, delay: str = "30s") -> CanaryPlan:
    return blue_green_plan(build_plan("0", [], {}), auto, delay)


def test_a_blue_green_starts_the_full_set_unseen_switches_at_once_then_keeps_blue() -> None:
    rig = CanaryRig()
    result = rig.run(blue_green())
    assert result.outcome == "complete", result.message
    assert rig.gate.splits == [("2.0", 0), ("2.0", 0), ("2.0", 100)]
    assert [(e.percent, e.canary_replicas) for e in rig.of(WeightSet)] == [(0, 3), (100, 3)]
    [kept] = rig.of(OldSetKept)
    assert kept.seconds == 30.0
    switched = rig.times[rig.events.index(kept)]
    removed = [t for e, t in zip(rig.events, rig.times, strict=True)
               if isinstance(e, ReplicaRemoved)]  # fmt: skip
    assert len(removed) == 3 and min(removed) >= switched + 30.0  # blue stayed its delay
    assert rig.images() == [NEW] * 3
    steps = [e.description for e in rig.of(StepStarted) if ":" in e.description]
    assert steps[0] == "blue-green: set weight 0%" and not any("canary" in s for s in steps)


def test_abort_within_the_scale_down_delay_switches_back_to_blue_at_once() -> None:
    rig = CanaryRig(scripted=[(10.0, "abort")])
    result = rig.run(blue_green(delay="1m"))
    assert result.outcome == "rolled-back"
    assert rig.gate.splits[-2:] == [("2.0", 100), ("2.0", 0)]
    [back] = [t for e, t in zip(rig.events, rig.times, strict=True)
              if isinstance(e, RollbackStarted)]  # fmt: skip
    assert back < 11.0  # no wait for the rest of the delay
    assert rig.images() == [OLD] * 3
    removals = [e.description for e in rig.of(StepStarted) if "remove" in e.description]
    assert removals and all(d.endswith("new") for d in removals), removals  # green's, not old


def test_a_blue_green_aborted_for_want_of_requests_points_to_its_preview() -> None:
    """No user request reaches green before the switch: its analysis reads what is sent
    to the preview, and the hint said only `agentlab history; agentlab traffic`."""
    rig = CanaryRig(preview="http://127.0.0.1:32000/")
    rig.meter.rps = 0
    plan = blue_green_plan(build_plan("0", ["error_rate < 1%"], GATED), True, "1s")
    result = rig.run(plan)
    assert result.outcome == "rolled-back"
    assert result.hint.startswith("send requests to the preview http://127.0.0.1:32000/")


def test_a_blue_green_without_auto_promote_waits_for_promote() -> None:
    rig = CanaryRig(scripted=[(20.0, "promote"), (25.0, "promote")])
    result = rig.run(blue_green(auto=False))
    assert result.outcome == "complete"
    assert rig.fake.clock.now() < 50.0  # the second promote cut the 30 s delay short


def test_a_pause_request_stops_the_canary_where_it_is_resumable() -> None:
    rig = CanaryRig()
    result = rig.run(build_plan("50,pause 1m,100", [], {}), pause_at=10.0)
    assert result.outcome == "paused"
    assert "rollout resume agent" in result.hint
    assert rig.journal.states == ["running", "paused"]
    assert sorted(rig.images()) == [OLD, OLD, OLD, NEW, NEW]  # left as it was: 50 %


# ---- a weight set by hand (`agentlab weight`, the TUI's w) ---------------------------


def test_a_weight_set_by_hand_applies_at_once_and_holds_until_promote() -> None:
    rig = CanaryRig(scripted=[(10.0, WeightRequest(30)), (100.0, "promote")])
    result = rig.run(build_plan("10,pause,50,100", [], {}))
    assert result.outcome == "complete", result.message
    assert rig.fake.clock.now() >= 100.0  # held, though the plan's pause had no end either
    assert rig.gate.splits[1:] == [("2.0", 10), ("2.0", 30), ("2.0", 100)]  # 50 % skipped
    assert [(e.percent, e.canary_replicas) for e in rig.of(WeightSet)] == [(10, 1), (30, 1),
                                                                          (100, 3)]  # fmt: skip
    held = [d for _, action, d in rig.journal.begun if action == "canary"
            and "by hand" in d["description"]]  # fmt: skip
    assert [(d["description"], d["canary_step"]) for d in held] == [
        ("canary: set weight 30% by hand, held", 1)  # resume runs the pause it cut short
    ]
    assert rig.images() == [NEW] * 3


def test_a_new_weight_replaces_the_held_one_and_abort_ends_the_hold() -> None:
    rig = CanaryRig(scripted=[(5.0, WeightRequest(30)), (10.0, WeightRequest(60)),
                              (15.0, "abort")])  # fmt: skip
    result = rig.run(build_plan("10,pause,100", [], {}))
    assert result.outcome == "rolled-back"
    assert result.message == "aborted on request; back on 1.0"
    assert rig.gate.splits[1:] == [("2.0", 10), ("2.0", 30), ("2.0", 60), ("2.0", 0)]
    weights = [(e.percent, e.canary_replicas) for e in rig.of(WeightSet)]
    assert weights == [(10, 1), (30, 1), (60, 2), (0, 2)]  # 60 % of 3: 2; all back to stable
    assert rig.images() == [OLD] * 3


def test_a_held_weight_keeps_reading_the_gates_and_a_failed_one_aborts() -> None:
    rig = CanaryRig(scripted=[(0.0, WeightRequest(30))])  # taken in the first analysis
    rig.meter.errors, rig.meter.rps = 0.05, 1000
    result = rig.run(build_plan("10,50,100", ["error_rate < 1%"], GATED))
    assert result.outcome == "rolled-back"
    assert result.message.startswith("gate failed: error_rate 5%")
    assert rig.gate.splits[1:] == [("2.0", 10), ("2.0", 30), ("2.0", 0)]
    assert rig.images() == [OLD] * 3


def test_a_held_weight_with_too_few_requests_waits_instead_of_aborting() -> None:
    rig = CanaryRig(scripted=[(0.0, WeightRequest(0)), (20.0, "promote")])
    rig.meter.rps = 1
    result = rig.run(build_plan("10,50,100", ["error_rate < 1%"], GATED))
    assert result.outcome == "complete", result.message
    readings = rig.of(GateChecked)
    assert len(readings) >= 10 and {r.verdict for r in readings} == {"inconclusive"}
    assert rig.gate.splits[1:] == [("2.0", 10), ("2.0", 0), ("2.0", 100)]


def test_a_blue_green_takes_no_weight() -> None:
    rig = CanaryRig(scripted=[(5.0, WeightRequest(30)), (10.0, "promote")])
    result = rig.run(blue_green(auto=False, delay="0s"))
    assert result.outcome == "complete", result.message
    assert rig.gate.splits == [("2.0", 0), ("2.0", 0), ("2.0", 100)]


PROMQL = 'promql: sum(rate(x{service="$service",version="$canary",code="5xx"}[$interval])) < 1%'


def test_a_promql_gate_is_asked_with_its_placeholders_filled_in_and_aborts_when_it_fails() -> None:
    asked: list[str] = []

    def query(text: str) -> float | None:
        asked.append(text)
        return 0.05

    rig = CanaryRig(prometheus=query)
    result = rig.run(build_plan("10,50,100", [PROMQL], GATED))
    assert result.outcome == "rolled-back"
    assert result.message.startswith("gate failed: promql sum(rate(x{")
    assert "= 5% (limit < 1%" in result.message
    assert asked == ['sum(rate(x{service="agent",version="2.0",code="5xx"}[1s]))']
    assert rig.images() == [OLD] * 3


def test_a_promql_gate_that_holds_lets_the_canary_through_and_no_data_is_inconclusive() -> None:
    passing = CanaryRig(prometheus=lambda text: 0.0)
    assert passing.run(build_plan("10,100", [PROMQL], GATED)).outcome == "complete"
    assert {e.verdict for e in passing.of(GateChecked)} == {"pass"}
    empty = CanaryRig(prometheus=lambda text: None)
    result = empty.run(build_plan("10,100", [PROMQL], GATED))
    assert result.outcome == "rolled-back"
    assert result.message.startswith("analysis inconclusive: no data in every interval")
    assert all("(no data)" in e.reading for e in empty.of(GateChecked))


def test_a_failed_meter_reading_is_an_unknown_interval_and_the_next_counts_from_the_last() -> None:
    rig = CanaryRig()
    rig.meter.unreadable = lambda reading: reading == 1  # the first interval's end
    result = rig.run(build_plan("10,100", ["requests > 15"], GATED))
    assert result.outcome == "complete", result.message
    first, second = rig.of(GateChecked)
    assert (first.verdict, first.reading) == (
        "inconclusive",
        "unknown (the traffic layer's meter answered 503: cut short)",
    )
    assert second.verdict == "pass"  # 20: two intervals at 10/s since reading 0 (one: 10)


def test_no_verdict_from_failed_readings_even_where_the_figures_would_fail() -> None:
    rig = CanaryRig()
    rig.meter.errors, rig.meter.rps = 0.05, 1000
    rig.meter.unreadable = lambda reading: reading >= 1
    result = rig.run(build_plan("10,100", ["error_rate < 1%"], GATED))
    assert result.outcome == "rolled-back"
    assert result.message.startswith(
        "analysis inconclusive: the traffic layer's meter answered 503: cut short in every"
    )
    assert {e.verdict for e in rig.of(GateChecked)} == {"inconclusive"}


def test_counters_that_went_back_give_no_verdict_and_become_the_next_baseline() -> None:
    rig = CanaryRig()
    rig.meter.errors, rig.meter.rps = 0.05, 1000
    rig.meter.counts = {"1.0": VersionFigures({"2xx": 10_000}, {0.005: 10_000}, 10_000)}
    counted = rig.meter.count

    def restarted() -> dict[str, VersionFigures]:  # the proxy restarts before reading 1
        if rig.meter.readings == 2:
            rig.meter.counts = {}
        return counted()

    rig.meter.count = restarted  # type: ignore[method-assign]
    result = rig.run(build_plan("10,100", ["error_rate < 1%"], GATED))
    assert result.outcome == "rolled-back"
    first, second = rig.of(GateChecked)
    assert first.verdict == "inconclusive" and "counters went back" in first.reading
    assert second.reading == "error_rate 5% (limit < 1%, 100 requests): fail"  # from reading 1


def test_intervals_inconclusive_for_different_reasons_name_each_reason() -> None:
    rig = CanaryRig()
    rig.meter.rps = 20  # 2 canary requests a second at 10%: fewer than min_requests 5
    rig.meter.unreadable = lambda reading: reading == 2  # the second interval's end
    result = rig.run(build_plan("10,100", ["error_rate < 1%"], GATED))
    assert result.outcome == "rolled-back"
    assert result.message.startswith(
        "analysis inconclusive in every interval: fewer than 5 canary requests; "
        "the traffic layer's meter answered 503: cut short"
    )
