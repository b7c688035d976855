"""The rollout runner against the fake engine: health gates, budgets, failure actions,
resume and undo from half-done states. Time is the fake clock's: nothing sleeps."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agentlab.common.errors import BadInput, OperationFailed
from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import HEALTHY, NEVER_HEALTHY, NO_HEALTHCHECK, Behaviour, exits
from agentlab.engine.fake_streams import FakeChanges
from agentlab.engine.model import PublishedPort, Replica, ServiceSpec
from agentlab.lab.rollout_io import failure_details
from agentlab.rollout.availability import Availability
from agentlab.rollout.events import (
    Paused,
    ReplicaCounts,
    ReplicaDraining,
    ReplicaFailed,
    ReplicaJoined,
    ReplicaLeft,
    ReplicaReady,
    ReplicaRemoved,
    ReplicaStarted,
    RollbackStarted,
    RolloutEvent,
    RolloutFinished,
    RolloutStarted,
    StepStarted,
)
from agentlab.rollout.journal import JournalState
from agentlab.rollout.phase import RolloutResult
from agentlab.rollout.planner import ReplicaView, plan
from agentlab.rollout.runner import RolloutRunner
from agentlab.rollout.settings import build_rollback_settings, build_settings
from agentlab.state.history import History
from tests.journal import journal_entry

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
class Rig:
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
        doomed: tuple[str, ...] = (),
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
            doomed=doomed,
        )

    def run(self, **options: Any) -> RolloutResult:
        return self.runner(**options).run(OLD, NEW, "1.0", "2.0")

    def of(self, kind: type[RolloutEvent]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    def images(self) -> list[str]:
        return sorted(self.fake.images_of("agent"))


def make_rig(
    *new: Behaviour,
    replicas: int = 3,
    old: tuple[Behaviour, ...] = (HEALTHY,),
    running: int | None = None,
    engine: type[FakeEngine] = FakeEngine,
    **spec: Any,
) -> Rig:
    fake = engine()
    fake.add_image(OLD, *old)
    fake.add_image(NEW, *(new or (SLOW,)))
    fake.add_service("agent", OLD, replicas if running is None else running)
    service = ServiceSpec("agent", OLD, None, replicas, **spec)
    return Rig(fake, service)


# ---- the happy path ---------------------------------------------------------


def test_rolling_update_keeps_capacity_and_never_overshoots() -> None:
    rig = make_rig()
    result = rig.run()
    assert result.outcome == "complete"
    assert result.message == "agent runs 2.0 on 3 replicas"
    assert rig.images() == [NEW] * 3
    assert (
        rig.fake.observations.max_named("agent") == 4
    )  # desired + surge answer the name, never more
    assert rig.fake.observations.min_ready_named("agent") == 3
    assert [count for (_, count) in rig.fake.called("add_replicas")] == [1, 1, 1]


def test_another_name_for_the_same_bytes_is_rolled_out_too() -> None:
    """A locked digest, or a tag given to the same image: the replicas were created from
    the old reference, and Compose's next `up` would recreate every one of them at once
    for the new one (the runner saw them as done: `up --locked` did exactly that)."""
    rig = make_rig()
    same, old = rig.fake.image_store.tag(OLD, "agent:1.0-final"), rig.fake.image(OLD)
    assert old is not None and same.id == old.id
    result = rig.runner().run(OLD, "agent:1.0-final", "1.0", "1.0-final")
    assert result.outcome == "complete"
    assert rig.images() == ["agent:1.0-final"] * 3
    assert rig.fake.observations.min_ready_named("agent") == 3
    assert [count for (_, count) in rig.fake.called("add_replicas")] == [1, 1, 1]


def test_a_replica_out_of_the_name_waits_out_its_delay_while_the_next_one_starts() -> None:
    """With a surge, an old replica that left the name no longer counts against it (as a
    terminating pod in Kubernetes): the next start does not wait for its delay and stop."""
    rig = make_rig()
    assert rig.run(cli={"deregistration_delay": 5.0}).outcome == "complete"
    calls = [name for name, _ in rig.fake.calls if name in ("remove_replica", "add_replicas")]
    assert calls[:2] == ["add_replicas", "add_replicas"]
    assert rig.fake.observations.max_total("agent") > 4  # retiring replicas beside the surge
    assert rig.fake.observations.max_named("agent") == 4
    assert len(rig.fake.containers) == 3  # every retiring replica removed before the end


def test_an_old_replica_is_stopped_while_the_rollout_goes_on() -> None:
    """SIGTERM, drain and removal run on a thread: a slow stop does not hold the next
    start (the fake's stop waits, in real time and 5 s at most, for one)."""
    overlapped: list[bool] = []

    class SlowStops(FakeEngine):
        def stop_replica(self, container_id: str, timeout: float) -> None:
            before = len(self.called("add_replicas"))
            if before < 3:  # more starts to come
                deadline = time.monotonic() + 5
                while len(self.called("add_replicas")) == before and time.monotonic() < deadline:
                    time.sleep(0.01)
                overlapped.append(len(self.called("add_replicas")) > before)
            super().stop_replica(container_id, timeout)

    rig = make_rig(engine=SlowStops)
    assert rig.run(cli={"deregistration_delay": 0.5}).outcome == "complete"
    assert overlapped and all(overlapped)
    assert len(rig.of(ReplicaRemoved)) == 3
    assert len(rig.fake.containers) == 3


def test_a_removal_that_fails_leaves_no_removal_running_after_the_rollout() -> None:
    """The first removal fails once the second is in flight: the error ends the rollout,
    but only after the second has finished and been reported (no removal outlives the run,
    for a resume in the same process to race); the failed removal's step is not done."""
    started: list[str] = []
    second_started = threading.Event()

    class FailingRemovals(FakeEngine):
        def remove_replica(self, container_id: str) -> None:
            started.append(container_id)
            if len(started) == 1:
                second_started.wait(5)
                raise OperationFailed("the engine refused to remove it", hint="none")
            second_started.set()
            time.sleep(0.3)  # still in flight when the first one's error is seen
            super().remove_replica(container_id)

    rig = make_rig(engine=FailingRemovals)
    with pytest.raises(OperationFailed, match="refused to remove"):
        rig.run(cli={"deregistration_delay": 0.5})
    assert not [t for t in threading.enumerate() if t.name.startswith("agentlab-remove-")]
    assert len(started) >= 2
    assert [e.id for e in rig.of(ReplicaRemoved)] == started[1:]
    steps = {cid: i for i, _, detail in rig.journal.begun for cid in detail.get("ids", [])}
    assert steps[started[0]] not in rig.journal.done
    assert {steps[cid] for cid in started[1:]} <= set(rig.journal.done)


def test_without_a_surge_an_old_replica_is_gone_before_the_next_one_starts() -> None:
    rig = make_rig()
    assert rig.run(cli={"max_surge": "0", "max_unavailable": "1"}).outcome == "complete"
    calls = [name for name, _ in rig.fake.calls if name in ("remove_replica", "add_replicas")]
    assert calls == ["remove_replica", "add_replicas"] * 3
    assert rig.fake.observations.max_total("agent") == 3


def test_a_start_after_a_removal_is_planned_without_reading_the_engine_again() -> None:
    rig = make_rig()
    assert rig.run().outcome == "complete"
    calls = [
        name for name, _ in rig.fake.calls if name in ("remove_replica", "replicas", "add_replicas")
    ]
    calls = [name for name, _ in rig.fake.calls if name in ("leave_name", "replicas",
                                                             "add_replicas")]  # fmt: skip
    after_leaving = [calls[i + 1] for i, name in enumerate(calls[:-1]) if name == "leave_name"]
    assert after_leaving == ["add_replicas", "add_replicas", "replicas"]  # the last: monitor


def test_run_follows_the_dry_run_plan() -> None:
    rig = make_rig()
    runner = rig.runner()
    runner.run(OLD, NEW, "1.0", "2.0")
    planned = [step.line().split(" (")[0] for step in plan(3, runner.settings)]
    assert [f"{e.index}. {e.description}" for e in rig.of(StepStarted)] == planned


def test_events_tell_the_whole_story_in_order() -> None:
    rig = make_rig()
    rig.run()
    kinds = [type(event) for event in rig.events]
    assert kinds[0] is RolloutStarted
    assert kinds[-1] is RolloutFinished
    assert len(rig.of(ReplicaStarted)) == len(rig.of(ReplicaReady)) == 3
    assert len(rig.of(ReplicaDraining)) == len(rig.of(ReplicaRemoved)) == 3
    started = rig.of(RolloutStarted)[0]
    assert (started.from_version, started.to_version, started.desired) == ("1.0", "2.0", 3)
    assert "max surge 1, max unavailable 0" in started.settings
    for draining, removed in zip(rig.of(ReplicaDraining), rig.of(ReplicaRemoved), strict=True):
        assert draining.id == removed.id  # removed on a thread, reported after
        assert rig.events.index(draining) < rig.events.index(removed)
    last = rig.of(ReplicaCounts)[-1]
    assert (last.ready, last.total, last.updated, last.desired) == (3, 3, 3, 3)
    progress = [(p.ready, p.total, p.updated) for p in rig.of(ReplicaCounts)]
    assert all(a != b for a, b in itertools.pairwise(progress))
    assert rig.of(RolloutFinished)[0].to_json()["outcome"] == "complete"


def test_drain_uses_stop_grace_period_or_drain_timeout() -> None:
    rig = make_rig(stop_grace_period=7.0)
    rig.run()
    assert {timeout for (_, timeout) in rig.fake.called("stop_replica")} == {7.0}
    rig = make_rig()
    rig.run(cli={"drain_timeout": "3s"})
    assert {timeout for (_, timeout) in rig.fake.called("stop_replica")} == {3.0}


def test_journal_brackets_every_step_and_records_the_outcome() -> None:
    rig = make_rig()
    rig.run()
    indexes = [index for index, _, _ in rig.journal.begun]
    assert indexes == list(range(1, len(indexes) + 1))
    assert sorted(rig.journal.done) == indexes
    assert {action for _, action, _ in rig.journal.begun} == {
        "start",
        "wait",
        "remove-old",
        "monitor",
    }
    assert rig.journal.states == ["running", "complete"]


def test_the_history_journal_fits(tmp_path: Path) -> None:
    rig = make_rig()
    with History.open(tmp_path / "state.db") as history:
        rid = history.start_rollout("agent", "1.0", OLD, "2.0", NEW, 1, 1)
        rig.runner(journal=history, rollout_id=rid).run(OLD, NEW, "1.0", "2.0")
        entry = journal_entry(history, rid)
    assert entry is not None
    assert entry.state == "complete"
    assert {step["status"] for step in entry.steps} == {"done"}


# ---- failures ---------------------------------------------------------------


def test_never_healthy_target_rolls_back_at_the_progress_deadline() -> None:
    rig = make_rig(NEVER_HEALTHY)
    result = rig.run(cli={"timeout": "10s"})
    assert result.outcome == "rolled-back"
    assert rig.images() == [OLD] * 3
    [failed] = result.failures
    assert failed.name == "lab-agent-4"
    assert failed.version == "2.0"
    assert failed.reason == "not ready after 10s (progress deadline)"
    assert failed.health_output == "connection refused"
    assert "lab-agent-4 (2.0) not ready after 10s" in result.message
    assert result.message.endswith("rolled back to 1.0")
    assert len(rig.of(RollbackStarted)) == 1
    assert rig.journal.states == ["running", "rolled-back"]
    assert rig.fake.clock.now() >= 10


def test_a_rollback_is_numbered_as_a_step_and_counts_toward_the_old_version() -> None:
    rig = make_rig(NEVER_HEALTHY)
    rig.run(cli={"timeout": "10s"})
    [back] = rig.of(RollbackStarted)
    steps = [e.index for e in rig.events if isinstance(e, StepStarted | RollbackStarted)]
    assert steps == list(range(1, len(steps) + 1))  # no number skipped
    assert back.line().startswith(f"{back.index}. rolling back: lab-agent-4")
    after = rig.events[rig.events.index(back) :]
    counts = [e for e in after if isinstance(e, ReplicaCounts)]
    assert counts and {c.version for c in counts} == {"1.0"}
    assert counts[-1].line() == "   3/3 ready, 3/3 on 1.0"


def test_failing_health_check_rolls_back_without_waiting_for_the_deadline() -> None:
    rig = make_rig(Behaviour(healthy_after=None, unhealthy_after=3, health_output="HTTP 500"))
    result = rig.run()
    assert result.outcome == "rolled-back"
    assert result.failures[0].reason == "failed its health check"
    assert result.failures[0].health_output == "HTTP 500"
    assert rig.fake.clock.now() < 5
    assert rig.images() == [OLD] * 3


def test_exiting_target_rolls_back_with_its_logs() -> None:
    rig = make_rig(exits(after=1, code=3, logs="starting\nfatal: missing API_KEY"))
    result = rig.run()
    assert result.outcome == "rolled-back"
    [failed] = result.failures
    assert failed.reason == "exited with code 3"
    assert failed.logs_tail == "starting\nfatal: missing API_KEY"
    assert rig.of(ReplicaFailed)[0].logs_tail == failed.logs_tail
    assert failure_details(result).splitlines()[1:] == [  # the log tail said as such
        "log tail:",
        "starting",
        "fatal: missing API_KEY",
    ]
    assert rig.images() == [OLD] * 3
    assert rig.fake.observations.min_ready("agent") == 3


def test_failure_after_old_replicas_are_gone_restores_them() -> None:
    rig = make_rig(SLOW, exits(after=2))
    result = rig.run()
    assert result.outcome == "rolled-back"
    assert rig.images() == [OLD] * 3
    assert rig.fake.observations.max_named("agent") <= 4
    assert len(rig.fake.called("add_replicas")) == 3  # two forward, one back


def test_unhealthy_inside_the_monitor_window_rolls_back() -> None:
    rig = make_rig(Behaviour(healthy_after=2, unhealthy_after=8))
    result = rig.run(cli={"monitor": "5s"})
    assert result.outcome == "rolled-back"
    assert result.failures[0].reason == "turned unhealthy"
    assert rig.images() == [OLD] * 3


class SlowReads(FakeEngine):
    """A fake engine whose every observation takes 0.2 s of the fake clock."""

    def replicas(self, service: str | None = None) -> list[Replica]:
        self.clock.sleep(0.2)
        return super().replicas(service)


def test_the_monitor_window_is_not_stretched_by_slow_engine_reads() -> None:
    rig = make_rig(engine=SlowReads)
    options = {"monitor": "1s", "deregistration_delay": "0.5s"}  # the last removal inside it
    assert rig.run(cli=options).outcome == "complete"
    timed = list(zip(rig.times, rig.events, strict=True))
    last_ready = max(t for t, e in timed if isinstance(e, ReplicaReady))
    [finished] = [t for t, e in timed if isinstance(e, RolloutFinished)]
    # both are emitted one read after what they report: the window ends 1 s after ready
    # (and the removal of the last retiring replica, inside it, takes its own time)
    assert finished - last_ready == pytest.approx(1.0, abs=0.1)


class RecordedWaits(FakeChanges):
    """The fake feed, remembering how long each wait was asked to last."""

    def __init__(self, rig: Rig) -> None:
        super().__init__(rig.fake.clock, nap=0.0)
        self.waits: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return super().wait(timeout)


def test_reads_slower_than_a_poll_still_sleep_a_poll_between_them() -> None:
    rig = make_rig(engine=SlowReads)  # 0.2 s reads
    runner = rig.runner()
    runner.poll_interval = 0.1
    runner.feed = feed = RecordedWaits(rig)
    assert runner.run(OLD, NEW, "1.0", "2.0").outcome == "complete"
    short = [wait for wait in feed.waits if wait < 0.1 - 1e-9]
    # only the monitor's end and the retirements' due times: no busy loop
    assert len(feed.waits) > 5 and len(short) <= 1 + len(rig.fake.called("remove_replica"))


def test_a_restart_is_a_failure() -> None:
    rig = make_rig(Behaviour(healthy_after=2, restart_after=4))
    result = rig.run(cli={"monitor": "5s"})
    assert result.outcome == "rolled-back"
    assert result.failures[0].reason == "restarted 1 time"


def test_pause_leaves_everything_as_it_is() -> None:
    rig = make_rig(exits())
    result = rig.run(cli={"failure_action": "pause"})
    assert result.outcome == "paused"
    assert result.hint == "agentlab rollout resume agent, or agentlab rollout undo agent"
    assert rig.images() == [OLD, OLD, OLD, NEW]
    [paused] = rig.of(Paused)
    assert paused.hint == result.hint
    assert rig.of(RollbackStarted) == []
    assert rig.journal.states == ["running", "paused"]


def test_continue_keeps_going_and_counts_failures() -> None:
    rig = make_rig(exits(), SLOW)
    result = rig.run(cli={"failure_action": "continue"})
    assert result.outcome == "failed"
    assert result.message == "agent runs 2.0 on 3 replicas, but 1 of 3 new replicas failed"
    assert rig.images() == [NEW] * 3
    assert len(result.failures) == 1
    assert rig.journal.states == ["running", "failed"]


def test_max_failure_ratio_tolerates_some_failures() -> None:
    rig = make_rig(exits(), SLOW)
    result = rig.run(cli={"max_failure_ratio": 0.34})
    assert result.outcome == "complete"
    assert "1 failed replicas tolerated" in result.message
    assert rig.images() == [NEW] * 3


def test_max_failure_ratio_exceeded_rolls_back() -> None:
    rig = make_rig(exits(), exits(), SLOW)
    result = rig.run(cli={"max_failure_ratio": 0.34})
    assert result.outcome == "rolled-back"
    assert len(result.failures) == 2
    assert rig.images() == [OLD] * 3


def test_failing_rollback_ends_failed() -> None:
    rig = make_rig(SLOW, exits(), old=(HEALTHY, HEALTHY, HEALTHY, exits()))
    result = rig.run(rollback_config={"parallelism": 1, "order": "start-first"})
    assert result.outcome == "failed"
    assert "the rollback failed too" in result.message
    # the journal entry ends: resume and undo would find nothing to continue
    assert result.hint == "agentlab rollout agent --to 1.0 (agentlab status shows each replica)"
    assert [f.version for f in result.failures] == ["2.0", "1.0"]


def test_a_rollout_that_fails_for_good_leaves_no_running_replica_out_of_the_name() -> None:
    """The rollback's replica is still starting when the deadline fails it: nothing gates
    the name after a failed end, so it joins (left out, it stayed unreachable by name
    once healthy, and no resume or undo was left to put it back)."""
    late = Behaviour(healthy_after=400)
    rig = make_rig(SLOW, exits(), old=(HEALTHY, HEALTHY, HEALTHY, late))
    result = rig.run(
        cli={"timeout": "10s"}, rollback_config={"parallelism": 1, "order": "start-first"}
    )
    assert result.outcome == "failed", result.message
    running = [c for c in rig.fake.of("agent") if c.state == "running"]
    assert [c.name for c in running if not c.named] == []
    assert [e.name for e in rig.of(ReplicaJoined) if e.name == "lab-agent-5"] == ["lab-agent-5"]


def test_slow_starter_within_the_deadline_completes() -> None:
    rig = make_rig(Behaviour(healthy_after=40))  # 10 s of 0.25 s polls
    assert rig.run(cli={"timeout": "30s"}).outcome == "complete"
    rig = make_rig(Behaviour(healthy_after=40))
    assert rig.run(cli={"timeout": "5s"}).outcome == "rolled-back"


# ---- strategies and budgets -------------------------------------------------


def test_stop_first_never_exceeds_the_desired_count() -> None:
    rig = make_rig()
    result = rig.run(update_config={"parallelism": 1, "order": "stop-first"})
    assert result.outcome == "complete"
    assert rig.fake.observations.max_total("agent") == 3
    assert rig.fake.observations.min_ready("agent") == 2
    assert rig.fake.calls.index(("stop_replica", (rig.fake.called("stop_replica")[0]))) < (
        rig.fake.calls.index(("add_replicas", ("agent", 1)))
    )


def test_parallelism_two_start_first() -> None:
    rig = make_rig(replicas=5)
    result = rig.run(update_config={"parallelism": 2, "order": "start-first"})
    assert result.outcome == "complete"
    assert [count for (_, count) in rig.fake.called("add_replicas")] == [2, 2, 1]
    assert rig.fake.observations.max_named("agent") == 7  # 5 + 2 answer the name at most
    assert rig.fake.observations.min_ready("agent") == 5
    assert rig.images() == [NEW] * 5


def test_delay_between_batches() -> None:
    rig = make_rig()
    rig.run(update_config={"order": "start-first", "delay": "10s", "monitor": 0})
    pauses = [e for e in rig.of(StepStarted) if "before the next batch" in e.description]
    assert len(pauses) == 2
    assert rig.fake.clock.now() >= 20


def test_percentages() -> None:
    rig = make_rig(replicas=4)
    result = rig.run(cli={"max_surge": "50%", "max_unavailable": "25%"})
    assert result.outcome == "complete"
    assert rig.fake.observations.max_named("agent") <= 6  # 4 + 50 % answer the name at most
    assert rig.fake.observations.min_ready_named("agent") == 3  # 4 - 25 % ready at least


def test_recreate_stops_all_then_starts_all() -> None:
    rig = make_rig()
    result = rig.run(cli={"strategy": "recreate"})
    assert result.outcome == "complete"
    names = [name for name, _ in rig.fake.calls if name in ("stop_replica", "add_replicas")]
    assert names == ["stop_replica"] * 3 + ["add_replicas"]
    assert rig.fake.observations.min_ready("agent") == 0  # the downtime recreate means
    assert rig.images() == [NEW] * 3


def test_a_new_replica_is_said_to_run_the_tag_asked_for_not_an_inherited_label() -> None:
    """1.9.0 built FROM the 1.1.0 image carries its version label: the events said a 1.1.0
    replica started and failed."""
    rig = make_rig()
    rig.fake.add_image("agent:1.9.0", NEVER_HEALTHY, version="1.1.0")
    result = rig.runner(cli={"timeout": "5s"}).run(OLD, "agent:1.9.0", "1.0", "1.9.0")
    assert result.outcome == "rolled-back"
    assert {event.version for event in rig.of(ReplicaStarted)} == {"1.9.0"}
    assert {failed.version for failed in result.failures} == {"1.9.0"}


def test_a_lone_replica_going_first_answers_until_it_stops() -> None:
    """Stop-first on one replica: once it left the name nobody answered, so the leave and
    the delay only lengthened the downtime (a client saw 4.1 s where 1.6 s was reported,
    and a slow stop was all downtime); it is stopped at once, the downtime counted from
    then. With another replica still ready, it leaves first and the delay stays."""
    rig = make_rig(HEALTHY, replicas=1)
    stop_first = {"max_surge": "0", "max_unavailable": "1", "deregistration_delay": 30.0}
    result = rig.run(cli=stop_first)
    assert result.outcome == "complete"
    assert result.duration < 30  # the fake clock: no 30 s delay was waited
    assert result.downtime == pytest.approx(result.duration, abs=1.5)
    assert rig.of(ReplicaLeft) == []  # it answered until it stopped
    (draining,) = rig.of(ReplicaDraining)  # a stop that ignores SIGTERM is waited: said so
    assert draining.line().endswith("(SIGTERM; killed after 10s if still running)")

    pair = make_rig(HEALTHY, replicas=2)
    result = pair.run(cli=stop_first)
    assert result.outcome == "complete" and result.downtime == 0
    assert result.duration >= 60  # each old one waited its delay while the other served


def test_scaling_down_keeps_the_delay_while_other_replicas_serve() -> None:
    """Replicas with no healthcheck are ready once running: the watcher's own readiness
    (min_ready) said none was, and a scale-down skipped the delay and claimed downtime."""
    rig = make_rig(NO_HEALTHCHECK, old=(NO_HEALTHCHECK,), replicas=1, running=3)
    result = rig.runner(cli={"deregistration_delay": 30.0}).run(OLD, OLD, "1.0", "1.0")
    assert result.outcome == "complete" and result.downtime == 0
    assert rig.images() == [OLD]
    assert result.duration >= 30


def test_the_downtime_spell_opens_when_the_last_ready_replica_withdraws() -> None:
    counts: list[RolloutEvent] = []
    availability = Availability(1, counts.append)
    availability.observe([ReplicaView("old", True)], [], 0.0, "1.1")
    availability.withdraw(["old"], 1.0)
    availability.observe([], [ReplicaView("new", False)], 3.0, "1.1")
    availability.observe([], [ReplicaView("new", True)], 4.0, "1.1")
    assert availability.downtime(9.0) == 3.0


def test_no_healthcheck_counts_after_min_ready() -> None:
    rig = make_rig(NO_HEALTHCHECK, old=(NO_HEALTHCHECK,))
    result = rig.run(cli={"min_ready": "2s"})
    assert result.outcome == "complete"
    started = {
        e.id: t for e, t in zip(rig.events, rig.times, strict=True) if isinstance(e, ReplicaStarted)
    }
    ready = {
        e.id: t for e, t in zip(rig.events, rig.times, strict=True) if isinstance(e, ReplicaReady)
    }
    assert started.keys() == ready.keys()
    assert all(ready[cid] - started[cid] >= 2 for cid in started)
    assert rig.fake.observations.min_ready("agent") == 3


def test_without_healthcheck_ready_is_seen_when_min_ready_passes_not_at_the_next_poll() -> None:
    rig = make_rig(NO_HEALTHCHECK, old=(NO_HEALTHCHECK,), replicas=1)
    runner = rig.runner(cli={"min_ready": "1.5s"})
    runner.poll_interval = 10.0  # a real run polls rarely: events wake it, timers here
    assert runner.run(OLD, NEW, "1.0", "2.0").outcome == "complete"
    started = next(
        t for e, t in zip(rig.events, rig.times, strict=True) if isinstance(e, ReplicaStarted)
    )
    ready = next(
        t for e, t in zip(rig.events, rig.times, strict=True) if isinstance(e, ReplicaReady)
    )
    assert ready - started == pytest.approx(1.5)


def test_a_refused_start_rolls_back_to_old_replicas_ready_at_once() -> None:
    """The engine creates a new replica and refuses to start it: a failure, rolled back
    (the created container removed). The old replicas, without a healthcheck and running
    for 10 s, are ready at once on the way back: no min_ready wait, no downtime."""
    rig = make_rig(NO_HEALTHCHECK, old=(NO_HEALTHCHECK,), replicas=2)
    rig.fake.clock.sleep(10.0)
    rig.fake.refused["agent"] = "all ports are allocated"
    started = rig.fake.clock.now()
    result = rig.run(cli={"min_ready": "2s"})
    assert result.outcome == "rolled-back", result.message
    assert "refused: docker engine: all ports are allocated" in result.message
    assert result.downtime == 0
    assert rig.fake.clock.now() - started < 2.0  # not min_ready again for the old ones
    assert rig.images() == [OLD, OLD]
    assert [f.name for f in result.failures] == ["a new agent replica"]


def test_fixed_host_port_refuses_surge_before_changing_anything() -> None:
    rig = make_rig(replicas=1, ports=(PublishedPort(80, 8080),))
    with pytest.raises(BadInput, match="fixed host port 8080->80"):
        rig.run()
    assert rig.fake.called("add_replicas") == []
    assert rig.run(cli={"max_surge": "0", "max_unavailable": "1"}).outcome == "complete"


RANGE_OF_4 = (PublishedPort(9000, None, "127.0.0.1", "tcp", (18101, 18104)),)


def test_a_host_port_range_gets_its_port_back_before_the_next_replica_starts() -> None:
    """Each replica takes a port of the range: an old one waiting out its delay still holds
    its port, so the next start waits for its removal (the engine refused that start,
    `all ports are allocated`, and a range with a port to spare rolled back)."""
    rig = make_rig(replicas=3, ports=RANGE_OF_4)
    assert rig.run(cli={"deregistration_delay": 5.0}).outcome == "complete"
    assert rig.fake.observations.max_total("agent") == 4  # never a port more than the range
    calls = [name for name, _ in rig.fake.calls if name in ("remove_replica", "add_replicas")]
    assert calls == ["add_replicas", "remove_replica"] * 3


# ---- resume and undo --------------------------------------------------------


def half_done() -> Rig:
    """Two old and two new replicas running, as an interrupted rollout leaves them."""
    rig = make_rig(HEALTHY, running=2)
    rig.fake.start("agent", NEW, 2)
    return rig


def test_resume_from_a_half_done_state() -> None:
    rig = half_done()
    result = rig.runner().converge(
        NEW, "2.0", from_version="1.0", rollback_image=OLD, rollback_version="1.0"
    )
    assert result.outcome == "complete"
    assert rig.images() == [NEW] * 3
    assert rig.fake.observations.max_named("agent") == 4
    first_leave = rig.fake.calls.index(("leave_name", rig.fake.called("leave_name")[0]))
    assert first_leave < rig.fake.calls.index(("add_replicas", ("agent", 1)))


def test_undo_from_a_half_done_state() -> None:
    rig = half_done()
    result = rig.runner().converge(OLD, "1.0", from_version="2.0", undo=True)
    assert result.outcome == "undone"
    assert result.message.startswith("agent runs 1.0")  # printed after the outcome, once
    assert rig.images() == [OLD] * 3
    assert rig.fake.observations.max_named("agent") == 4
    assert rig.journal.states == ["running", "undone"]


def test_leftovers_are_removed_not_failed() -> None:
    """A replica stopped but not removed before a crash, and surplus new ones."""
    rig = half_done()
    leftover = rig.fake.start("agent", OLD, 1)[0]
    rig.fake.containers[leftover].state = "exited"
    rig.fake.start("agent", NEW, 2)
    result = rig.runner().converge(OLD, "1.0", undo=True)
    assert result.outcome == "undone"
    assert result.failures == ()
    assert rig.images() == [OLD] * 3
    assert all(c.state == "running" for c in rig.fake.of("agent"))


def test_interrupted_run_resumes_where_it_stopped() -> None:
    rig = make_rig()
    runner = rig.runner()
    crash = runner.emit

    def emit(event: RolloutEvent) -> None:
        crash(event)
        if len(rig.of(ReplicaRemoved)) == 1:
            raise KeyboardInterrupt

    runner.emit = emit
    with pytest.raises(KeyboardInterrupt):
        runner.run(OLD, NEW, "1.0", "2.0")
    assert rig.journal.states == ["running"]
    assert rig.images().count(OLD) == 2  # crashed after the first removal
    result = rig.runner().converge(NEW, "2.0", rollback_image=OLD, rollback_version="1.0")
    assert result.outcome == "complete"
    assert rig.images() == [NEW] * 3
    assert rig.fake.observations.max_named("agent") == 4


def test_event_json_has_kind_and_time() -> None:
    rig = make_rig()
    rig.run()
    data = rig.of(ReplicaReady)[0].to_json()
    assert data["event"] == "replica_ready"
    assert data["time"].endswith("Z")
    assert set(data) == {"event", "time", "id", "name", "by"}
    assert data["by"] == "docker"
    assert rig.of(StepStarted)[0].line() == "1. start 1 new"


# ---- the service's name: ready replicas only -----------------------------------


def test_the_name_answers_only_with_ready_replicas_and_leaves_before_the_stop() -> None:
    rig = make_rig(SLOW)
    assert rig.run().outcome == "complete"
    assert rig.fake.observations.unready_named("agent") == 0  # never a starting or stopped one
    assert all(c.named for c in rig.fake.of("agent"))
    assert [count for (_, count) in rig.fake.called("add_replicas")] == [1, 1, 1]
    joined, left = rig.of(ReplicaJoined), rig.of(ReplicaLeft)
    assert len(joined) == len(left) == 3
    for gone in left:  # out of the name, then the delay, then SIGTERM
        draining = next(e for e in rig.of(ReplicaDraining) if e.id == gone.id)
        waited = rig.times[rig.events.index(draining)] - rig.times[rig.events.index(gone)]
        assert waited >= 0.5
    assert rig.events.index(joined[0]) < rig.events.index(left[0])
    assert joined[0].line() == f"   {joined[0].name} answers to agent"


def test_without_the_gate_new_replicas_answer_the_name_while_starting() -> None:
    rig = make_rig(SLOW)
    assert rig.run(cli={"name_when_ready": "false"}).outcome == "complete"
    assert rig.fake.observations.unready_named("agent") > 0  # what the gate prevents
    assert rig.of(ReplicaJoined) == rig.of(ReplicaLeft) == []


def test_a_configurable_deregistration_delay() -> None:
    rig = make_rig()
    rig.run(cli={"deregistration_delay": "3s"})
    gone = rig.of(ReplicaLeft)[0]
    draining = next(e for e in rig.of(ReplicaDraining) if e.id == gone.id)
    assert rig.times[rig.events.index(draining)] - rig.times[rig.events.index(gone)] >= 3.0


def test_a_failed_rollout_never_lets_the_failing_replica_answer() -> None:
    rig = make_rig(NEVER_HEALTHY)
    assert rig.run(cli={"timeout": "5s"}).outcome == "rolled-back"
    assert rig.fake.observations.unready_named("agent") == 0
    assert rig.of(ReplicaJoined) == [] and rig.of(ReplicaLeft) == []  # old ones never left


def test_undo_puts_a_replica_that_left_the_name_back_in_it() -> None:
    """A crash between an old replica leaving the name and its removal."""
    rig = half_done()
    left = rig.fake.of("agent")[0]
    left.named = False
    result = rig.runner().converge(OLD, "1.0", from_version="2.0", undo=True)
    assert result.outcome == "undone"
    assert rig.fake.containers[left.id].named
    assert left.id in [e.id for e in rig.of(ReplicaJoined)]  # and the one undo started


def test_undo_removes_a_replica_whose_removal_had_begun_and_never_joins_it_back() -> None:
    """A kill -9 while an old replica drained: the stop agentlab asked for may still be
    under way on the engine. Joined back, it answered the name until it died (undo said
    'undone' with 2 of 3 running, or failed on its exit 137)."""
    rig = half_done()
    draining = rig.fake.of("agent")[0]
    draining.named = False
    runner = rig.runner(doomed=(draining.id,))
    result = runner.converge(OLD, "1.0", from_version="2.0", undo=True)
    assert result.outcome == "undone"
    assert draining.id not in rig.fake.containers
    assert draining.id not in [e.id for e in rig.of(ReplicaJoined)]
    assert rig.images() == [OLD] * 3
    assert rig.fake.observations.unready_named("agent") == 0
