"""The rollout runner against the fake engine: health gates, budgets, failure actions,
resume and undo from half-done states. Time is the fake clock's: nothing sleeps."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agentlab.engine.fake import (
    HEALTHY,
    NEVER_HEALTHY,
    NO_HEALTHCHECK,
    Behaviour,
    FakeChanges,
    FakeEngine,
    exits,
)
from agentlab.engine.protocol import Replica
from agentlab.errors import BadInput
from agentlab.history import History
from agentlab.rollout.events import (
    Paused,
    Progress,
    ReplicaDraining,
    ReplicaFailed,
    ReplicaReady,
    ReplicaRemoved,
    ReplicaStarted,
    RollbackStarted,
    RolloutEvent,
    RolloutFinished,
    RolloutStarted,
    StepStarted,
)
from agentlab.rollout.planner import plan
from agentlab.rollout.runner import JournalState, RolloutResult, RolloutRunner
from agentlab.rollout.settings import build_rollback_settings, build_settings
from agentlab.services import ServiceSpec

OLD, NEW = "agent:1.0", "agent:2.0"
SLOW = Behaviour(healthy_after=3)  # healthy on the third poll after it started


@dataclass
class Journal:
    """Records what the runner writes to the journal."""

    begun: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    states: list[JournalState] = field(default_factory=list)

    def step_begin(self, rollout_id: str, index: int, action: str, detail: dict[str, Any]) -> None:
        assert rollout_id == "r1"
        self.begun.append((index, action, detail))

    def step_done(self, rollout_id: str, index: int) -> None:
        self.done.append(index)

    def set_rollout_state(self, rollout_id: str, state: JournalState) -> None:
        self.states.append(state)


@dataclass
class Lab:
    """A fake engine with service `agent`, and a runner factory for it."""

    fake: FakeEngine
    spec: ServiceSpec
    journal: Journal = field(default_factory=Journal)
    events: list[RolloutEvent] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def runner(
        self,
        cli: Mapping[str, Any] | None = None,
        update_config: Mapping[str, Any] | None = None,
        rollback_config: Mapping[str, Any] | None = None,
        journal: Any = None,
        rollout_id: str = "r1",
    ) -> RolloutRunner:
        settings = build_settings({"monitor": 1}, update_config, cli)

        def emit(event: RolloutEvent) -> None:
            self.events.append(event)
            self.times.append(self.fake.clock.now())

        return RolloutRunner(
            self.fake,
            self.spec,
            settings,
            pin=lambda ref: self.fake.pin("agent", ref),
            emit=emit,
            journal=journal or self.journal,
            rollout_id=rollout_id,
            rollback_settings=build_rollback_settings(settings, rollback_config),
            clock=self.fake.clock.now,
            feed=FakeChanges(self.fake.clock, nap=0.0),
            poll_interval=0.25,  # the fake feed brings no events: a finer poll stands in
        )

    def run(self, **options: Any) -> RolloutResult:
        return self.runner(**options).run(OLD, NEW, "1.0", "2.0")

    def of(self, kind: type[RolloutEvent]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    def images(self) -> list[str]:
        return sorted(self.fake.images_of("agent"))


def make_lab(
    *new: Behaviour,
    replicas: int = 3,
    old: tuple[Behaviour, ...] = (HEALTHY,),
    running: int | None = None,
    engine: type[FakeEngine] = FakeEngine,
    **spec: Any,
) -> Lab:
    fake = engine()
    fake.add_image(OLD, *old)
    fake.add_image(NEW, *(new or (SLOW,)))
    fake.add_service("agent", OLD, replicas if running is None else running)
    service = ServiceSpec("agent", OLD, None, replicas, has_healthcheck=True, **spec)
    return Lab(fake, service)


# ---- the happy path ---------------------------------------------------------


def test_rolling_update_keeps_capacity_and_never_overshoots() -> None:
    lab = make_lab()
    result = lab.run()
    assert result.outcome == "complete"
    assert result.exit_code == 0
    assert result.message == "agent runs 2.0 on 3 replicas"
    assert lab.images() == [NEW] * 3
    assert lab.fake.max_total("agent") == 4
    assert lab.fake.min_ready("agent") == 3
    assert [count for (_, count) in lab.fake.called("add_replicas")] == [1, 1, 1]


def test_a_start_after_a_removal_is_planned_without_reading_the_engine_again() -> None:
    lab = make_lab()
    assert lab.run().outcome == "complete"
    calls = [
        name for name, _ in lab.fake.calls if name in ("remove_replica", "replicas", "add_replicas")
    ]
    after_removals = [calls[i + 1] for i, name in enumerate(calls[:-1]) if name == "remove_replica"]
    assert after_removals == ["add_replicas", "add_replicas", "replicas"]  # the last: monitor


def test_run_follows_the_dry_run_plan() -> None:
    lab = make_lab()
    runner = lab.runner()
    runner.run(OLD, NEW, "1.0", "2.0")
    planned = [step.line().split(" (")[0] for step in plan(3, runner.settings)]
    assert [f"{e.index}. {e.description}" for e in lab.of(StepStarted)] == planned


def test_events_tell_the_whole_story_in_order() -> None:
    lab = make_lab()
    lab.run()
    kinds = [type(event) for event in lab.events]
    assert kinds[0] is RolloutStarted
    assert kinds[-1] is RolloutFinished
    assert len(lab.of(ReplicaStarted)) == len(lab.of(ReplicaReady)) == 3
    assert len(lab.of(ReplicaDraining)) == len(lab.of(ReplicaRemoved)) == 3
    started = lab.of(RolloutStarted)[0]
    assert (started.from_version, started.to_version, started.desired) == ("1.0", "2.0", 3)
    assert "max surge 1, max unavailable 0" in started.settings
    for draining, removed in zip(lab.of(ReplicaDraining), lab.of(ReplicaRemoved), strict=True):
        assert draining.id == removed.id
        assert lab.events.index(draining) + 1 == lab.events.index(removed)
    last = lab.of(Progress)[-1]
    assert (last.ready, last.total, last.updated, last.desired) == (3, 3, 3, 3)
    progress = [(p.ready, p.total, p.updated) for p in lab.of(Progress)]
    assert all(a != b for a, b in itertools.pairwise(progress))
    assert lab.of(RolloutFinished)[0].to_json()["outcome"] == "complete"


def test_drain_uses_stop_grace_period_or_drain_timeout() -> None:
    lab = make_lab(stop_grace_period=7.0)
    lab.run()
    assert {timeout for (_, timeout) in lab.fake.called("stop_replica")} == {7.0}
    lab = make_lab()
    lab.run(cli={"drain_timeout": "3s"})
    assert {timeout for (_, timeout) in lab.fake.called("stop_replica")} == {3.0}


def test_journal_brackets_every_step_and_records_the_outcome() -> None:
    lab = make_lab()
    lab.run()
    indexes = [index for index, _, _ in lab.journal.begun]
    assert indexes == list(range(1, len(indexes) + 1))
    assert sorted(lab.journal.done) == indexes
    assert {action for _, action, _ in lab.journal.begun} == {
        "start",
        "wait",
        "remove-old",
        "monitor",
    }
    assert lab.journal.states == ["running", "done"]


def test_the_history_journal_fits(tmp_path: Path) -> None:
    lab = make_lab()
    with History.open(tmp_path / "state.db") as history:
        rid = history.start_rollout("agent", "1.0", OLD, "2.0", NEW, 1, 1)
        lab.runner(journal=history, rollout_id=rid).run(OLD, NEW, "1.0", "2.0")
        entry = history.rollout(rid)
    assert entry is not None
    assert entry.state == "done"
    assert {step["status"] for step in entry.steps} == {"done"}


# ---- failures ---------------------------------------------------------------


def test_never_healthy_target_rolls_back_at_the_progress_deadline() -> None:
    lab = make_lab(NEVER_HEALTHY)
    result = lab.run(cli={"timeout": "10s"})
    assert result.outcome == "rolled-back"
    assert result.exit_code == 1
    assert lab.images() == [OLD] * 3
    [failed] = result.failures
    assert failed.name == "lab-agent-4"
    assert failed.version == "2.0"
    assert failed.reason == "not ready after 10s (progress deadline)"
    assert failed.health_output == "connection refused"
    assert "lab-agent-4 (2.0) not ready after 10s" in result.message
    assert result.message.endswith("rolled back to 1.0")
    assert len(lab.of(RollbackStarted)) == 1
    assert lab.journal.states == ["running", "rolled-back"]
    assert lab.fake.clock.now() >= 10


def test_failing_health_check_rolls_back_without_waiting_for_the_deadline() -> None:
    lab = make_lab(Behaviour(healthy_after=None, unhealthy_after=3, health_output="HTTP 500"))
    result = lab.run()
    assert result.outcome == "rolled-back"
    assert result.failures[0].reason == "failed its health check"
    assert result.failures[0].health_output == "HTTP 500"
    assert lab.fake.clock.now() < 5
    assert lab.images() == [OLD] * 3


def test_exiting_target_rolls_back_with_its_logs() -> None:
    lab = make_lab(exits(after=1, code=3, logs="starting\nfatal: missing API_KEY"))
    result = lab.run()
    assert result.outcome == "rolled-back"
    [failed] = result.failures
    assert failed.reason == "exited with code 3"
    assert failed.logs_tail == "starting\nfatal: missing API_KEY"
    assert lab.of(ReplicaFailed)[0].logs_tail == failed.logs_tail
    assert lab.images() == [OLD] * 3
    assert lab.fake.min_ready("agent") == 3


def test_failure_after_old_replicas_are_gone_restores_them() -> None:
    lab = make_lab(SLOW, exits(after=2))
    result = lab.run()
    assert result.outcome == "rolled-back"
    assert lab.images() == [OLD] * 3
    assert lab.fake.max_total("agent") <= 4
    assert len(lab.fake.called("add_replicas")) == 3  # two forward, one back


def test_unhealthy_inside_the_monitor_window_rolls_back() -> None:
    lab = make_lab(Behaviour(healthy_after=2, unhealthy_after=8))
    result = lab.run(cli={"monitor": "5s"})
    assert result.outcome == "rolled-back"
    assert result.failures[0].reason == "turned unhealthy"
    assert lab.images() == [OLD] * 3


class SlowReads(FakeEngine):
    """A fake engine whose every observation takes 0.2 s of the fake clock."""

    def replicas(self, service: str | None = None) -> list[Replica]:
        self.clock.sleep(0.2)
        return super().replicas(service)


def test_the_monitor_window_is_not_stretched_by_slow_engine_reads() -> None:
    lab = make_lab(engine=SlowReads)
    assert lab.run(cli={"monitor": "1s"}).outcome == "complete"
    timed = list(zip(lab.times, lab.events, strict=True))
    last_ready = max(t for t, e in timed if isinstance(e, ReplicaReady))
    [finished] = [t for t, e in timed if isinstance(e, RolloutFinished)]
    # both are emitted one read after what they report: the window ends 1 s after ready
    assert finished - last_ready == pytest.approx(1.0)


class RecordedWaits(FakeChanges):
    """The fake feed, remembering how long each wait was asked to last."""

    def __init__(self, lab: Lab) -> None:
        super().__init__(lab.fake.clock, nap=0.0)
        self.waits: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return super().wait(timeout)


def test_reads_slower_than_a_poll_still_sleep_a_poll_between_them() -> None:
    lab = make_lab(engine=SlowReads)  # 0.2 s reads
    runner = lab.runner()
    runner.poll_interval = 0.1
    runner.feed = feed = RecordedWaits(lab)
    assert runner.run(OLD, NEW, "1.0", "2.0").outcome == "complete"
    short = [wait for wait in feed.waits if wait < 0.1 - 1e-9]
    assert len(feed.waits) > 5 and len(short) <= 1  # only the monitor's end: no busy loop


def test_a_restart_is_a_failure() -> None:
    lab = make_lab(Behaviour(healthy_after=2, restart_after=4))
    result = lab.run(cli={"monitor": "5s"})
    assert result.outcome == "rolled-back"
    assert result.failures[0].reason == "restarted 1 time"


def test_pause_leaves_everything_as_it_is() -> None:
    lab = make_lab(exits())
    result = lab.run(cli={"failure_action": "pause"})
    assert result.outcome == "paused"
    assert result.hint == "agentlab rollout resume agent or agentlab rollout undo agent"
    assert lab.images() == [OLD, OLD, OLD, NEW]
    [paused] = lab.of(Paused)
    assert paused.hint == result.hint
    assert lab.of(RollbackStarted) == []
    assert lab.journal.states == ["running", "paused"]


def test_continue_keeps_going_and_counts_failures() -> None:
    lab = make_lab(exits(), SLOW)
    result = lab.run(cli={"failure_action": "continue"})
    assert result.outcome == "failed"
    assert result.message == "agent runs 2.0 on 3 replicas, but 1 of 3 new replicas failed"
    assert lab.images() == [NEW] * 3
    assert len(result.failures) == 1
    assert lab.journal.states == ["running", "failed"]


def test_max_failure_ratio_tolerates_some_failures() -> None:
    lab = make_lab(exits(), SLOW)
    result = lab.run(cli={"max_failure_ratio": 0.34})
    assert result.outcome == "complete"
    assert "1 failed replicas tolerated" in result.message
    assert lab.images() == [NEW] * 3


def test_max_failure_ratio_exceeded_rolls_back() -> None:
    lab = make_lab(exits(), exits(), SLOW)
    result = lab.run(cli={"max_failure_ratio": 0.34})
    assert result.outcome == "rolled-back"
    assert len(result.failures) == 2
    assert lab.images() == [OLD] * 3


def test_failing_rollback_ends_failed() -> None:
    lab = make_lab(SLOW, exits(), old=(HEALTHY, HEALTHY, HEALTHY, exits()))
    result = lab.run(rollback_config={"parallelism": 1, "order": "start-first"})
    assert result.outcome == "failed"
    assert "the rollback failed too" in result.message
    assert result.hint.startswith("agentlab rollout resume agent")
    assert [f.version for f in result.failures] == ["2.0", "1.0"]


def test_slow_starter_within_the_deadline_completes() -> None:
    lab = make_lab(Behaviour(healthy_after=40))  # 10 s of 0.25 s polls
    assert lab.run(cli={"timeout": "30s"}).outcome == "complete"
    lab = make_lab(Behaviour(healthy_after=40))
    assert lab.run(cli={"timeout": "5s"}).outcome == "rolled-back"


# ---- strategies and budgets -------------------------------------------------


def test_stop_first_never_exceeds_the_desired_count() -> None:
    lab = make_lab()
    result = lab.run(update_config={"parallelism": 1, "order": "stop-first"})
    assert result.outcome == "complete"
    assert lab.fake.max_total("agent") == 3
    assert lab.fake.min_ready("agent") == 2
    assert lab.fake.calls.index(("stop_replica", (lab.fake.called("stop_replica")[0]))) < (
        lab.fake.calls.index(("add_replicas", ("agent", 1)))
    )


def test_parallelism_two_start_first() -> None:
    lab = make_lab(replicas=5)
    result = lab.run(update_config={"parallelism": 2, "order": "start-first"})
    assert result.outcome == "complete"
    assert [count for (_, count) in lab.fake.called("add_replicas")] == [2, 2, 1]
    assert lab.fake.max_total("agent") == 7
    assert lab.fake.min_ready("agent") == 5
    assert lab.images() == [NEW] * 5


def test_delay_between_batches() -> None:
    lab = make_lab()
    lab.run(update_config={"order": "start-first", "delay": "10s", "monitor": 0})
    pauses = [e for e in lab.of(StepStarted) if "before the next batch" in e.description]
    assert len(pauses) == 2
    assert lab.fake.clock.now() >= 20


def test_percentages() -> None:
    lab = make_lab(replicas=4)
    result = lab.run(cli={"max_surge": "50%", "max_unavailable": "25%"})
    assert result.outcome == "complete"
    assert lab.fake.max_total("agent") == 6
    assert lab.fake.min_ready("agent") == 3


def test_recreate_stops_all_then_starts_all() -> None:
    lab = make_lab()
    result = lab.run(cli={"strategy": "recreate"})
    assert result.outcome == "complete"
    names = [name for name, _ in lab.fake.calls if name in ("stop_replica", "add_replicas")]
    assert names == ["stop_replica"] * 3 + ["add_replicas"]
    assert lab.fake.min_ready("agent") == 0  # the downtime recreate means
    assert lab.images() == [NEW] * 3


def test_no_healthcheck_counts_after_min_ready() -> None:
    lab = make_lab(NO_HEALTHCHECK, old=(NO_HEALTHCHECK,))
    result = lab.run(cli={"min_ready": "2s"})
    assert result.outcome == "complete"
    started = {
        e.id: t for e, t in zip(lab.events, lab.times, strict=True) if isinstance(e, ReplicaStarted)
    }
    ready = {
        e.id: t for e, t in zip(lab.events, lab.times, strict=True) if isinstance(e, ReplicaReady)
    }
    assert started.keys() == ready.keys()
    assert all(ready[cid] - started[cid] >= 2 for cid in started)
    assert lab.fake.min_ready("agent") == 3


def test_without_healthcheck_ready_is_seen_when_min_ready_passes_not_at_the_next_poll() -> None:
    lab = make_lab(NO_HEALTHCHECK, old=(NO_HEALTHCHECK,), replicas=1)
    runner = lab.runner(cli={"min_ready": "1.5s"})
    runner.poll_interval = 10.0  # a real run polls rarely: events wake it, timers here
    assert runner.run(OLD, NEW, "1.0", "2.0").outcome == "complete"
    started = next(
        t for e, t in zip(lab.events, lab.times, strict=True) if isinstance(e, ReplicaStarted)
    )
    ready = next(
        t for e, t in zip(lab.events, lab.times, strict=True) if isinstance(e, ReplicaReady)
    )
    assert ready - started == pytest.approx(1.5)


def test_fixed_host_port_refuses_surge_before_changing_anything() -> None:
    lab = make_lab(replicas=1, fixed_host_ports=("8080->80",))
    with pytest.raises(BadInput, match="fixed host port 8080->80"):
        lab.run()
    assert lab.fake.called("add_replicas") == []
    assert lab.run(cli={"max_surge": "0", "max_unavailable": "1"}).outcome == "complete"


# ---- resume and undo --------------------------------------------------------


def half_done() -> Lab:
    """Two old and two new replicas running, as an interrupted rollout leaves them."""
    lab = make_lab(HEALTHY, running=2)
    lab.fake.start("agent", NEW, 2)
    return lab


def test_resume_from_a_half_done_state() -> None:
    lab = half_done()
    result = lab.runner().converge(
        NEW, "2.0", from_version="1.0", rollback_image=OLD, rollback_version="1.0"
    )
    assert result.outcome == "complete"
    assert lab.images() == [NEW] * 3
    assert lab.fake.max_total("agent") == 4
    assert lab.fake.calls.index(("stop_replica", lab.fake.called("stop_replica")[0])) < (
        lab.fake.calls.index(("add_replicas", ("agent", 1)))
    )


def test_undo_from_a_half_done_state() -> None:
    lab = half_done()
    result = lab.runner().converge(OLD, "1.0", from_version="2.0", undo=True)
    assert result.outcome == "complete"
    assert result.message.startswith("undone: agent runs 1.0")
    assert lab.images() == [OLD] * 3
    assert lab.fake.max_total("agent") == 4
    assert lab.journal.states == ["running", "undone"]


def test_leftovers_are_removed_not_failed() -> None:
    """A replica stopped but not removed before a crash, and surplus new ones."""
    lab = half_done()
    leftover = lab.fake.start("agent", OLD, 1)[0]
    lab.fake.containers[leftover].state = "exited"
    lab.fake.start("agent", NEW, 2)
    result = lab.runner().converge(OLD, "1.0", undo=True)
    assert result.outcome == "complete"
    assert result.failures == ()
    assert lab.images() == [OLD] * 3
    assert all(c.state == "running" for c in lab.fake.of("agent"))


def test_interrupted_run_resumes_where_it_stopped() -> None:
    lab = make_lab()
    runner = lab.runner()
    crash = runner.emit

    def emit(event: RolloutEvent) -> None:
        crash(event)
        if len(lab.of(ReplicaRemoved)) == 1:
            raise KeyboardInterrupt

    runner.emit = emit
    with pytest.raises(KeyboardInterrupt):
        runner.run(OLD, NEW, "1.0", "2.0")
    assert lab.journal.states == ["running"]
    assert lab.images() == [OLD, OLD, NEW]
    result = lab.runner().converge(NEW, "2.0", rollback_image=OLD, rollback_version="1.0")
    assert result.outcome == "complete"
    assert lab.images() == [NEW] * 3
    assert lab.fake.max_total("agent") == 4


def test_event_json_has_kind_and_time() -> None:
    lab = make_lab()
    lab.run()
    data = lab.of(ReplicaReady)[0].to_json()
    assert data["event"] == "replica_ready"
    assert data["time"].endswith("Z")
    assert set(data) == {"event", "time", "id", "name"}
    assert lab.of(StepStarted)[0].line() == "1. start 1 new"
