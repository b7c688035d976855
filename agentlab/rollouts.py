"""Rollout operations of the facade: rollout, rollback, resume, undo, and interruption checks.

`Lab` exposes these; they journal every step in the project's SQLite history so an
interrupted rollout is detected by the next command and can be resumed or undone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentlab import images as image_builds
from agentlab.engine.protocol import ChangeFeed
from agentlab.errors import BadInput, InterruptedRollout
from agentlab.history import History, JournalEntry, Outcome
from agentlab.override import update_override
from agentlab.rollout.events import RolloutEvent
from agentlab.rollout.planner import PlannedStep, plan
from agentlab.rollout.runner import RolloutResult, RolloutRunner, refuse_unsafe
from agentlab.rollout.settings import RolloutSettings, build_rollback_settings, build_settings
from agentlab.services import ServiceSpec, split_image_ref

if TYPE_CHECKING:
    from agentlab.lab import Lab, Resolved

Emit = Callable[[RolloutEvent], None]
PauseFlag = Callable[[], bool]
OUTCOME_TO_REVISION: dict[str, Outcome] = {
    "complete": "complete",
    "rolled-back": "rolled-back",
    "paused": "paused",
    "failed": "failed",
}


@dataclass(frozen=True)
class RolloutPlan:
    """A validated rollout, ready to run or to print (`--dry-run`)."""

    service: ServiceSpec
    target: Resolved
    from_image: str
    settings: RolloutSettings
    rollback_settings: RolloutSettings

    @property
    def from_version(self) -> str:
        return split_image_ref(self.from_image)[1]

    def steps(self) -> list[PlannedStep]:
        return plan(self.service.replicas, self.settings)


def drop(_: RolloutEvent) -> None:
    """An event sink that ignores events."""


def never() -> bool:
    """A pause flag that is never raised."""
    return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def interrupted(history: History, service: str | None = None) -> list[JournalEntry]:
    """Unfinished rollouts whose process is gone (paused ones included: they wait for you)."""
    return [
        entry
        for entry in history.unfinished(service)
        if entry.state == "paused" or not pid_alive(entry.pid) or entry.pid == os.getpid()
    ]


def describe_unfinished(entry: JournalEntry) -> str:
    """One line naming an unfinished rollout and where it stopped."""
    done = sum(1 for step in entry.steps if step.get("status") == "done")
    what = "is paused" if entry.state == "paused" else "was interrupted"
    return (
        f"the rollout of {entry.service} {entry.from_version} -> {entry.to_version} {what}"
        f" after {done} of {len(entry.steps)} step(s)"
    )


def refuse_if_unfinished(history: History, service: str) -> None:
    for entry in interrupted(history, service):
        raise InterruptedRollout(
            describe_unfinished(entry),
            hint=f"agentlab rollout resume {service}, or agentlab rollout undo {service}",
        )


def prepare(lab: Lab, service: str, target: Resolved, options: Mapping[str, Any]) -> RolloutPlan:
    """Validate everything about a rollout before any container or file is touched."""
    spec = lab.service(service)
    lab.check_requirements([target])
    settings = build_settings(lab.project.settings.rollout, spec.update_config, options)
    rollback = build_rollback_settings(settings, spec.rollback_config)
    from_image = lab.current_image(service)
    if from_image is None:
        raise BadInput(f"service '{service}' has no current image", hint="agentlab up first")
    plan_ = RolloutPlan(spec, target, from_image, settings, rollback)
    refuse_unsafe(spec, settings, rollback)
    plan_.steps()  # raises BadInput for an impossible budget
    return plan_


def execute(
    lab: Lab, plan_: RolloutPlan, emit: Emit, cause: str, pause: PauseFlag = never
) -> RolloutResult:
    """Run a prepared rollout under the caller's project lock; record history."""
    history = lab.history()
    refuse_if_unfinished(history, plan_.service.name)
    target = plan_.target
    if target.build is not None:
        image_builds.run_jobs(
            lab.engine, [target.build], False, image_builds.base_image(None), lambda _: None
        )
    info = lab.image(target.image)  # found during validation: no second look-up
    with closing(lab.engine.changes()) as feed:  # opened before the journal says "started"
        revision = history.begin_revision(
            plan_.service.name,
            target.tag,
            target.image,
            info.id if info else "",
            info.digest if info else None,
            cause,
        )
        rollout_id = history.start_rollout(
            plan_.service.name,
            plan_.from_version,
            plan_.from_image,
            target.tag,
            target.image,
            revision.number,
            os.getpid(),
        )
        result = runner(lab, plan_, emit, history, rollout_id, feed, pause=pause).run(
            plan_.from_image, target.image, plan_.from_version, target.tag
        )
    history.finish_revision(
        plan_.service.name, revision.number, OUTCOME_TO_REVISION[result.outcome]
    )
    return result


def continue_unfinished(
    lab: Lab, service: str | None, emit: Emit, undo: bool, pause: PauseFlag = never
) -> RolloutResult:
    """Resume (or undo) the interrupted rollout of a service, from whatever state it is in."""
    history = lab.history()
    entries = interrupted(history, service)
    if not entries:
        raise BadInput(
            f"no interrupted rollout{f' of {service}' if service else ''} to "
            f"{'undo' if undo else 'resume'}",
            hint="agentlab history shows what ran",
        )
    if len(entries) > 1 and service is None:
        names = ", ".join(sorted({e.service for e in entries}))
        raise BadInput("several services have interrupted rollouts", hint=f"name one: {names}")
    entry = entries[0]
    spec = lab.service(entry.service)
    settings = build_settings(lab.project.settings.rollout, spec.update_config, {})
    rollback = build_rollback_settings(settings, spec.rollback_config)
    plan_ = RolloutPlan(spec, _resolved(entry), entry.from_image, settings, rollback)
    outcome: Outcome
    with closing(lab.engine.changes()) as feed:
        run = runner(lab, plan_, emit, history, entry.rollout_id, feed, len(entry.steps) + 1, pause)
        if undo:
            result = run.converge(entry.from_image, entry.from_version, undo=True)
            outcome = "undone" if result.outcome == "complete" else "failed"
        else:
            result = run.converge(
                entry.to_image,
                entry.to_version,
                from_version=entry.from_version,
                rollback_image=entry.from_image,
                rollback_version=entry.from_version,
            )
            outcome = OUTCOME_TO_REVISION[result.outcome]
    history.finish_revision(entry.service, entry.revision_number, outcome)
    return result


def runner(
    lab: Lab,
    plan_: RolloutPlan,
    emit: Emit,
    journal: Any,
    rollout_id: str,
    feed: ChangeFeed,
    first_step: int = 1,
    pause: PauseFlag = never,
) -> RolloutRunner:
    """A runner for a plan that sleeps on `feed`: it observes again as soon as a
    container starts, dies or changes health, else after a fallback poll (1 s)."""
    name = plan_.service.name

    def pin(image: str) -> None:
        update_override(lab.override_path, pins={name: image})

    return RolloutRunner(
        lab.engine,
        plan_.service,
        plan_.settings,
        pin,
        emit,
        journal,
        rollout_id,
        rollback_settings=plan_.rollback_settings,
        feed=feed,
        first_step=first_step,
        pause_requested=pause,
    )


def _resolved(entry: JournalEntry) -> Resolved:
    from agentlab.lab import Resolved

    return Resolved(entry.service, entry.to_version, entry.to_image)
