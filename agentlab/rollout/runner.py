"""Run a rollout against an engine: observe, ask the planner, act, gate on health.

Every loop observes the service's replicas in one inspect, sorts them into the target
set (at the image being rolled to) and the rest, watches the target set for failures
and readiness (target_watcher.py), and executes the planner's next step. Nothing else
is remembered, so `converge` can pick up from any state: resume, undo, or the automatic
rollback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

from agentlab.common.errors import OperationFailed
from agentlab.common.words import counted
from agentlab.engine.model import Replica, ServiceSpec
from agentlab.engine.protocol import FALLBACK_POLL, ChangeFeed, Engine, ReplicaCopier
from agentlab.rollout.availability import Availability, serves
from agentlab.rollout.configs import ConfigTarget, copier_for, read_copier
from agentlab.rollout.departures import Departures, removal_order
from agentlab.rollout.events import (
    Paused,
    RollbackStarted,
    RolloutEvent,
    RolloutFinished,
    RolloutStarted,
    StepStarted,
)
from agentlab.rollout.gate import NoGate, TrafficGate
from agentlab.rollout.journal import Journal, Outcome, resume_hint
from agentlab.rollout.names_back import names_back
from agentlab.rollout.phase import (
    STRAY,
    FailedReplica,
    Phase,
    RolloutResult,
    Watch,
    refuse_unsafe,
)
from agentlab.rollout.planner import (
    Action,
    Delay,
    Done,
    Monitor,
    RemoveOld,
    RemoveSurplus,
    ReplicaView,
    StartNew,
    Step,
    Wait,
    at_batch_boundary,
    budget,
    describe,
    next_actions,
    summarize,
)
from agentlab.rollout.settings import RolloutSettings
from agentlab.rollout.target_watcher import TargetWatcher, next_due

ROLLBACK_LABEL = "rollback: "  # before the description of each of a rollback's steps
# A phase's configuration target (None: any), and copies of an old replica for the way back.
Configuration = tuple[ConfigTarget | None, ReplicaCopier | None]

_ACTIONS: dict[type[Step], str] = {
    StartNew: "start",
    RemoveOld: "remove-old",
    RemoveSurplus: "remove-surplus",
    Wait: "wait",
    Delay: "delay",
    Monitor: "monitor",
}


class RolloutRunner:
    """Replaces the replicas of one service, gated by health; rolls back on failure."""

    def __init__(
        self,
        engine: Engine,
        service: ServiceSpec,
        settings: RolloutSettings,
        pin: Callable[[str], None],
        emit: Callable[[RolloutEvent], None],
        journal: Journal,
        rollout_id: str,
        *,
        rollback_settings: RolloutSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        feed: ChangeFeed,
        poll_interval: float = FALLBACK_POLL,
        first_step: int = 1,
        pause_requested: Callable[[], bool] = lambda: False,
        note: str = "",
        gate: TrafficGate | None = None,
        leave_alone: Collection[str] = (),
        doomed: Collection[str] = (),
        final: bool = True,
    ) -> None:
        self.engine = engine
        self.service = service
        self.settings = settings
        self.rollback_settings = rollback_settings or settings
        self.pin = pin
        self.emit = emit
        self.journal = journal
        self.rollout_id = rollout_id
        self.clock = clock
        self.feed = feed
        self.poll_interval = poll_interval
        self.pause_requested = pause_requested
        self.note = note
        self.gate = gate or NoGate()
        self.leave_alone = frozenset(leave_alone)  # replicas it neither counts nor touches
        # replicas an interrupted run had begun to remove (its stop may still be under way
        # on the engine): removed like old ones, never joined back
        self.doomed = frozenset(doomed)
        # the run that ends the rollout (a canary's inner runs do not: it goes on, or aborts)
        self.final = final
        self.departures = Departures(engine, service, self.gate, self._emit, feed, clock)
        self.watcher = TargetWatcher(engine, service, self.gate, self._emit, clock)
        self.availability = Availability(self.desired, self._emit)
        self._index = first_step - 1
        self.going_back = False  # converging back to the version a rollout left (converge)

    @property
    def desired(self) -> int:
        return self.service.replicas

    def run(
        self,
        from_image: str,
        to_image: str,
        from_version: str,
        to_version: str,
        from_config: str | None = None,
    ) -> RolloutResult:
        """Roll the service from `from_image` to `to_image` (and, with `from_config`, away
        from that Compose configuration hash: an edit of the files); roll back on failure."""
        away = ConfigTarget(from_config) if from_config is not None else None
        return self.converge(
            to_image,
            to_version,
            from_version=from_version,
            rollback_image=from_image,
            rollback_version=from_version,
            config=away,
            rollback_config=replace(away, back=True) if away is not None else None,
        )

    def converge(
        self,
        target_image: str,
        target_version: str,
        *,
        from_version: str = "",
        rollback_image: str | None = None,
        rollback_version: str = "",
        undo: bool = False,
        ends_rollback: bool = False,
        back: bool = False,
        config: ConfigTarget | None = None,
        rollback_config: ConfigTarget | None = None,
    ) -> RolloutResult:
        """Drive the service from whatever state it is in to `desired` replicas of
        `target_image`, removing every other replica. Resume passes the interrupted
        rollout's from_image as `rollback_image`; undo targets the from_image with no
        rollback_image (a failure then ends `failed`) and `undo=True`; resume of a rollout
        interrupted in its rollback does too, with `ends_rollback=True` (`rolled-back`).
        `back`: it returns to the version a rollout left (an abort), as undo and the end of
        a rollback do: the replicas it removes are said to be new ones. `config` and
        `rollback_config`: where each phase drives a configuration rollout."""
        refuse_unsafe(self.service, self.settings, self.rollback_settings)
        self.going_back = back or undo or ends_rollback
        old = next((c.old for c in (config, rollback_config) if c is not None and c.back), None)
        copier = read_copier(self.engine, self.service.name, old)  # before anything changes
        started = self.clock()
        self.emit(
            RolloutStarted(
                self.service.name,
                from_version,
                target_version,
                self.desired,
                self.settings.strategy,
                "; ".join(filter(None, [summarize(self.desired, self.settings), self.note])),
                undo=undo,
                configuration=config is not None,
            )
        )
        self.journal.set_rollout_state(self.rollout_id, "running")
        forward = self._drive(target_image, target_version, self.settings, (config, copier))
        if forward.stopped and self.settings.failure_action == "rollback" and rollback_image:
            outcome, message, hint, failures = self._roll_back(
                forward, rollback_image, rollback_version, (rollback_config, copier)
            )
        else:
            known_good = rollback_version if rollback_image else target_version
            outcome, message, hint, failures = self._conclude(forward, known_good)
        if outcome == "failed" and self.final and self.settings.name_when_ready:
            names_back(self.engine, self.service.name, self.doomed | self.leave_alone, self._emit)
        if undo and outcome == "complete":
            outcome = "undone"
        elif ends_rollback and outcome == "complete":
            outcome, message = "rolled-back", f"{message}: the rollback of a failed rollout ended"
        end = self.clock()
        downtime = self.availability.downtime(end)
        if downtime > 0:
            message += f"; {downtime:.1f}s with no ready replica"
        duration = end - started
        self.emit(RolloutFinished(outcome, message, duration, downtime))
        self.journal.set_rollout_state(self.rollout_id, outcome)
        return RolloutResult(outcome, message, duration, tuple(failures), hint, downtime)

    def _conclude(
        self, phase: Phase, known_good: str
    ) -> tuple[Outcome, str, str, list[FailedReplica]]:
        """Outcome, message and hint of a finished forward phase (before any rollback);
        `known_good`: the version a failure's hint rolls to."""
        name, failures = self.service.name, list(phase.failures)
        if phase.interrupted:
            self.emit(Paused("paused on request", self._hint()))
            return "paused", "paused on request", self._hint(), failures
        if phase.stopped:
            reason = failures[-1].summary()
            if self.settings.failure_action == "pause":
                self.emit(Paused(reason, self._hint(phase)))
                return "paused", reason, self._hint(phase), failures
            return "failed", f"stopped: {reason}", self._failed_hint(phase, known_good), failures
        runs = f"{name} runs {phase.version} on {counted(self.desired, 'replica')}"  # undone
        if phase.exceeded:
            failed = f"{len(failures)} of {self.desired} new replicas failed"
            return "failed", f"{runs}, but {failed}", self._failed_hint(phase, known_good), failures
        if failures:
            runs += f" ({len(failures)} failed replicas tolerated by max_failure_ratio)"
        return "complete", runs, "", failures

    def _roll_back(
        self, forward: Phase, image: str, version: str, config: Configuration
    ) -> tuple[Outcome, str, str, list[FailedReplica]]:
        """Converge back to `image` with the rollback settings after a failed phase."""
        reason = forward.failures[-1].summary()
        self._index += 1  # journaled first: a resume after a cut here finishes the rollback
        self.journal.step_begin(self.rollout_id, self._index, "rollback",
                                {"description": f"{ROLLBACK_LABEL}{reason}"})  # fmt: skip
        self.journal.step_done(self.rollout_id, self._index)
        self.emit(RollbackStarted(reason, self._index))
        try:
            back = self._drive(image, version, self.rollback_settings, config, label=ROLLBACK_LABEL,
                               vouched=frozenset(forward.served))  # fmt: skip
        except OperationFailed as exc:  # no way back to an edited configuration
            message = f"{reason}; the rollback failed too: {exc.message}"
            return "failed", message, exc.hint, list(forward.failures)
        failures = forward.failures + back.failures
        if back.stopped or back.exceeded:
            message = f"{reason}; the rollback failed too: {back.failures[-1].summary()}"
            return "failed", message, self._failed_hint(back, version), failures
        return "rolled-back", f"{reason}; rolled back to {version}", "", failures

    def _failed_hint(self, phase: Phase, known_good: str) -> str:
        """How to reach a known state after a rollout that failed for good (its journal
        entry ends: resume and undo have nothing left to continue); after the engine's
        refusal to start a replica, what it asked for, then the command again."""
        if phase.refusal_hint:
            return f"{phase.refusal_hint}, then run the command again"
        if phase.config is not None:  # the files' configuration: only they can change it
            return "put the compose files right, then agentlab up"
        name = self.service.name
        return f"agentlab rollout {name} --to {known_good} (agentlab status shows each replica)"

    def _hint(self, phase: Phase | None = None) -> str:
        """Resume or undo; first what the engine's refusal asked for, when it stopped."""
        name = self.service.name
        first = f"{phase.refusal_hint}, then " if phase is not None and phase.refusal_hint else ""
        return f"{first}{resume_hint(name)}"

    def _drive(
        self,
        image: str,
        version: str,
        settings: RolloutSettings,
        config: Configuration = (None, None),
        label: str = "",
        vouched: frozenset[str] = frozenset(),
    ) -> Phase:
        """Converge to `desired` replicas of `image` (of one configuration, when given);
        stop early when failure_action says. `vouched`: replicas known ready already."""
        self.pin(image)
        info = self.engine.image(image)
        phase = Phase(image, version, info.id if info else None, settings, label, self.clock(),
                      vouched=vouched)  # fmt: skip
        phase.stale.update(self.doomed)
        phase.config, copier = config
        if phase.config is not None and phase.config.back:
            phase.copier = copier_for(self.service.name, phase.config, copier)
        try:
            self._steps(phase)
        except BaseException:
            self.departures.wind_down(phase.retiring, self._step_done)
            raise
        self._retire(phase, None)
        self._end_hold(phase)
        return phase

    def _steps(self, phase: Phase) -> None:
        """Step until the phase is done, stopped or interrupted."""
        settings = phase.settings
        while not phase.stopped:
            if self.pause_requested():
                phase.interrupted = True
                break
            now = self._retire(phase, self.clock())
            replicas, phase.after_removal = phase.after_removal, None
            known = replicas is not None
            if replicas is None:
                self.feed.mark()
                found = self.engine.replicas(self.service.name)
                skipped = self.leave_alone | phase.retiring.ids()
                replicas = removal_order(r for r in found if r.id not in skipped)
            target = [r for r in replicas if phase.is_target(r)]
            self.watcher.watch(phase, target, now)
            if (stray := phase.first_stray(replicas)) is not None:
                phase.watches.setdefault(stray.id, Watch(stray.restart_count))
                self.watcher.fail(phase, stray, STRAY, now)
                phase.stopped = True  # else it would start such replicas forever
            if phase.stopped:
                break
            fresh = {r.id for r in target} - phase.stale
            new = [
                ReplicaView(r.id, self._ready(phase, r), phase.watches[r.id].failed)
                for r in replicas
                if r.id in fresh
            ]
            old = [ReplicaView(r.id, self._ready(phase, r)) for r in replicas if r.id not in fresh]
            phase.served.update(view.id for view in old if view.ready)
            self.availability.observe(old, new, now, _target(phase))
            action = next_actions(self.desired, old, new, settings)
            if known and not isinstance(action, StartNew):
                continue  # anything but a start is planned from a fresh read
            if not self._advance(phase, action, old, new, {r.id: r for r in replicas}, now):
                break

    def _advance(
        self,
        phase: Phase,
        action: Action,
        old: list[ReplicaView],
        new: list[ReplicaView],
        replicas: dict[str, Replica],
        now: float,
    ) -> bool:
        """Take one step (or wait a poll); False once the phase is done."""
        settings = phase.settings
        if isinstance(action, Done):
            ours = [v.id for v in new if v.id in phase.ours and not v.failed]
            watched = [phase.watches[replica_id] for replica_id in ours]
            watched_until = max(
                (w.ready_at + settings.monitor for w in watched if w.ready_at is not None),
                default=now,
            )
            # ready by agentlab's probe: done once Docker's own health agrees too, so that
            # status says what the rollout said (Docker's next probe, an interval at most)
            unconfirmed = [replicas[i] for i in ours if replicas[i].health == "starting"]
            if watched_until <= now and not unconfirmed:
                return False
            if watched_until <= now and now - phase.last_progress >= settings.timeout:
                reason = f"Docker's health still says starting after {settings.timeout:g}s"
                for replica in unconfirmed:
                    self.watcher.fail(phase, replica, reason, now)
                return True
            until = watched_until if watched_until > now else now + self.poll_interval
            return self._hold(phase, Monitor(settings.monitor), until)
        if isinstance(action, Wait):
            if now - phase.last_progress < settings.timeout:
                return self._hold(phase, action, next_due(phase, now))
            reason = f"not ready after {settings.timeout:g}s (progress deadline)"
            for view in new:
                if not view.settled:
                    self.watcher.fail(phase, replicas[view.id], reason, now)
            return True
        if phase.mutated and at_batch_boundary(self.desired, old, new, settings):
            if phase.delay_until is None:
                phase.delay_until = now + settings.delay
            if now < phase.delay_until:
                return self._hold(phase, Delay(settings.delay), phase.delay_until)
        self._end_hold(phase)
        phase.delay_until = None
        self._act(phase, action, replicas)
        phase.mutated = True
        phase.last_progress = self.clock()
        return True

    def _act(
        self,
        phase: Phase,
        action: StartNew | RemoveOld | RemoveSurplus,
        replicas: dict[str, Replica],
    ) -> None:
        match action:
            case StartNew(count):
                index = self._begin(phase, action, {"image": phase.image, "count": count})
                named = not phase.settings.name_when_ready  # else: named once ready
                if phase.copier is not None:
                    ids = phase.copier(count, named)
                else:
                    try:
                        ids = self.engine.add_replicas(self.service.name, count, named=named)
                    except OperationFailed as refused:
                        self.watcher.refused(phase, refused, self.clock())
                        ids = []  # nothing started: the step is over, and the phase stops
                phase.ours.update(ids)
                phase.unannounced.update(ids)
            case RemoveOld(ids) | RemoveSurplus(ids):
                index = self._begin(phase, action, {"ids": list(ids)})
                doomed = [replicas[cid] for cid in ids]
                phase.after_removal = [r for r in replicas.values() if r.id not in ids]
                others = self.leave_alone or any(self._ready(phase, r) for r in phase.after_removal)
                # with no other replica to answer, leaving the name and waiting the delay
                # would only make its stop time downtime: it answers until it stops
                delay = self.departures.take_out(doomed, phase.settings) if others else 0.0
                self.availability.withdraw(ids, self.clock())  # not serving from now on
                if self._overlaps(phase.settings):
                    for replica in doomed:  # removed while the rollout goes on
                        phase.retiring.add(replica, self.clock() + delay, index)
                    return
                self.departures.sleep(delay)
                for replica in doomed:
                    self.departures.remove(replica, phase.settings)
        self.journal.step_done(self.rollout_id, index)

    def _ready(self, phase: Phase, replica: Replica) -> bool:
        """Whether a replica serves: one this phase started once its watch says so (probe,
        health or min_ready); another also when Docker's health and the name say so (a
        running replica scale keeps was not ready until min_ready passed again)."""
        if replica.id in phase.stale:
            return False
        watch = phase.watches.get(replica.id)
        if watch is not None and watch.ready:
            return True
        return replica.id not in phase.ours and serves(replica, phase.settings.name_when_ready)

    def _overlaps(self, settings: RolloutSettings) -> bool:
        """Whether a replica out of the name may wait out its delay while the rollout goes
        on: a rolling update with room to surge (with none, the old replica's port or
        volume may be what the next one needs), of a service that publishes no host port
        range (the old replica's port of it is what the next one needs)."""
        rolling = settings.strategy == "rolling" and budget(self.desired, settings).surge > 0
        return rolling and self.service.spare_host_ports() is None

    def _retire(self, phase: Phase, now: float | None) -> float:
        """Remove the retiring replicas due by `now` (all, when None); the clock after."""
        self.departures.retire(phase.retiring, now, phase.settings, self._step_done)
        return self.clock()

    def _emit(self, event: RolloutEvent) -> None:
        self.emit(event)  # late-bound: whoever replaced `emit` hears the helpers too

    def _step_done(self, index: int) -> None:
        self.journal.step_done(self.rollout_id, index)

    # ---- journal ----------------------------------------------------------

    def _begin(self, phase: Phase, step: Step, detail: dict[str, Any]) -> int:
        self._index += 1
        description = phase.label + describe(step, self.going_back or bool(phase.label))
        self.journal.step_begin(
            self.rollout_id,
            self._index,
            _ACTIONS[type(step)],
            {"description": description, **detail},
        )
        self.emit(StepStarted(self._index, description))
        return self._index

    def _hold(self, phase: Phase, step: Wait | Delay | Monitor, until: float) -> bool:
        """Hold (one journal step for as long as the same kind of hold lasts) and sleep
        until the clock reads `until` (a poll at most). The clock is read here, not at the
        top of the loop, so the engine read in between does not stretch the hold."""
        if phase.hold is None or phase.hold[1] is not type(step):
            self._end_hold(phase)
            phase.hold = (self._begin(phase, step, {}), type(step))
        due = phase.retiring.next_due()  # a retiring replica may be due before `until`
        wake = until if due is None else min(until, due)
        self.feed.wait(min(self.poll_interval, wake - self.clock()))
        return True

    def _end_hold(self, phase: Phase) -> None:
        if phase.hold is not None:
            self.journal.step_done(self.rollout_id, phase.hold[0])
            phase.hold = None


def _target(phase: Phase) -> str:
    """What a phase's new replicas run, as its progress says: `1.3.0`, or with the
    configuration when that is what changes (the version stays)."""
    if phase.config is None:
        return phase.version
    return f"{phase.version}, {'its old' if phase.config.back else 'the edited'} configuration"
