"""Rollouts as the facade runs them: rollout, rollback, resume and undo, journaled.

Every step is journaled in the project's SQLite history before it runs, so an interrupted
rollout is detected by the next command and can be resumed or undone.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from contextlib import closing
from dataclasses import replace
from typing import Any

from agentlab.common.errors import BadInput
from agentlab.common.imagerefs import same_image_ref, split_image_ref
from agentlab.engine.model import ServiceSpec
from agentlab.engine.protocol import ChangeFeed
from agentlab.lab import builds, canaries, joiners, lock_policy, prometheus, registry
from agentlab.lab.catalogue import Catalogue, Resolved
from agentlab.lab.model import ProjectModel
from agentlab.lab.rollout_io import Emit, PauseFlag, finished_last, never
from agentlab.lab.rollout_plan import (
    RolloutPlan,
    continued_plan,
    refuse_beside,
    refuse_unrunnable,
    stop_first_when_needed,
)
from agentlab.lab.stopped import refuse_stopped
from agentlab.lab.traffic_layer import TrafficLayer
from agentlab.lab.unfinished import (
    being_removed,
    describe_unfinished,
    interrupted,
    refuse_over_unfinished,
    rolling_back,
)
from agentlab.rollout.canary_runner import CanaryRunner
from agentlab.rollout.configs import ConfigTarget
from agentlab.rollout.events import (
    BuildProgress,
    JoinersRecreated,
    RolloutFinished,
    RolloutStarted,
)
from agentlab.rollout.gate import NoGate, TrafficGate
from agentlab.rollout.journal import Journal
from agentlab.rollout.phase import RolloutResult
from agentlab.rollout.runner import RolloutRunner
from agentlab.rollout.settings import RolloutSettings, build_rollback_settings, build_settings
from agentlab.state.lock import project_lock
from agentlab.versions import image_tag


class Rollouts:
    """Rollout operations over one project model; each takes the project lock."""

    def __init__(self, model: ProjectModel, catalogue: Catalogue, layer: TrafficLayer) -> None:
        self.model = model
        self.catalogue = catalogue
        self.layer = layer

    def settings(self, service: str, options: Mapping[str, Any] | None = None) -> RolloutSettings:
        """A service's rollout settings: agentlab.yaml, its update_config, then `options`."""
        spec = self.model.service(service)
        return build_settings(self.model.project.settings.rollout, spec.update_config, options)

    def prepare(
        self,
        service: str,
        target: Resolved,
        options: Mapping[str, Any],
        from_image: str | None = None,
        as_run: ServiceSpec | None = None,
        behind: Collection[str] | None = None,
        from_config: str | None = None,
    ) -> RolloutPlan:
        """Validate everything about a rollout before any container or file is touched.
        `from_image` is what the service runs when the override already asks for another
        (an edit the watcher rolls out); by default, the service's current image. `as_run`
        and `behind` are the service and the traffic layer's services as they will be when
        it runs (`up` changes the override first); by default, as they are now. `from_config`:
        a configuration rollout's, the hash it leaves (rolled, never as a canary)."""
        spec = as_run or self.model.service(service)
        if spec.job:
            raise BadInput(
                f"{service} is a job (a service waits for it to complete): a rollout replaces "
                "replicas that keep running",
                hint=f"agentlab up --set {service}={target.tag} runs it again",
            )
        self.catalogue.check_requirements([target])
        if target.build is not None:  # built on the way: its bases must be local, dry run too
            builds.check_bases(self.model.engine, [target.build])
        canary, record = None, None
        if from_config is None and canaries.wants_canary(self.model, service, options):
            canary, record = canaries.plan_canary(self.model, self.layer, service, options, behind)
        elif any(options.get(key) is not None for key in canaries.CANARY_OPTIONS):
            raise BadInput("--steps and the gates belong to a canary",
                           hint="add --strategy canary")  # fmt: skip
        dropped = (*canaries.CANARY_OPTIONS, *(("strategy",) if canary else ()))
        options = {k: v for k, v in options.items() if k not in dropped}
        settings = self.settings(service, options)
        rollback = build_rollback_settings(settings, spec.rollback_config)
        start = from_image or self.model.current_image(service)
        if start is None:
            raise BadInput(f"service '{service}' has no current image", hint="agentlab up first")
        if canary:
            refuse_beside(spec)
        settings, rollback, note = stop_first_when_needed(spec, settings, rollback, options)
        if from_config is not None:  # said when it starts: the versions are the same
            note = "; ".join(filter(None, ["the compose file's configuration edited", note]))
        refuse_unrunnable(spec, settings, rollback)
        given = {key: value for key, value in options.items() if value is not None}
        planned = RolloutPlan(spec, target, start, settings, rollback, note, canary, record,
                              from_config, given)  # fmt: skip
        planned.steps()  # raises BadInput for an impossible budget
        if not (from_config or target.build or target.fetch):  # a canary's too
            info = self.model.image(target.image)
            replicas = self.model.engine.replicas(service)
            planned = replace(planned, unchanged=planned.nothing_to_do(replicas, info))
        return planned

    def plan(
        self,
        service: str,
        to: str,
        options: Mapping[str, Any] | None = None,
        from_image: str | None = None,
    ) -> RolloutPlan:
        """Resolve the version and validate the rollout, touching nothing."""
        target = self.catalogue.resolve(service, to)
        return self.prepare(service, target, options or {}, from_image)

    def run(self, planned: RolloutPlan, emit: Emit, cause: str, pause: PauseFlag) -> RolloutResult:
        """Check the engine, take the project lock, run a prepared rollout."""
        self.model.engine.check()
        self.refuse_stopped(planned)
        with project_lock(self.model.state_dir, cause):
            self.layer.sync()
            return self.execute(planned, emit, cause, pause)

    def refuse_stopped(self, planned: RolloutPlan) -> None:
        """BadInput when none of the service's replicas runs: the rollout would start it
        alone (`up` starts it, at the rollout's version)."""
        spec = planned.service
        refuse_stopped(self.model, spec.name, spec.replicas, planned.target.tag)

    def execute(
        self, planned: RolloutPlan, emit: Emit, cause: str, pause: PauseFlag = never
    ) -> RolloutResult:
        """Run a prepared rollout under the caller's project lock; record history."""
        with finished_last(emit) as held:
            return self._execute(planned, held, cause, pause)

    def _execute(
        self, planned: RolloutPlan, emit: Emit, cause: str, pause: PauseFlag
    ) -> RolloutResult:
        history = self.model.history()
        name = planned.service.name
        refuse_over_unfinished(history, name)
        target = planned.target
        if planned.unchanged:  # said as a rollout that had nothing to do, no revision
            self.model.write_pins({name: target.image})
            emit(RolloutStarted(name, planned.from_version, target.tag, planned.service.replicas,
                                planned.settings.strategy, "nothing to do"))  # fmt: skip
            emit(RolloutFinished("complete", planned.unchanged, 0.0))
            return RolloutResult("complete", planned.unchanged, 0.0)

        def report(line: str) -> None:
            emit(BuildProgress(target.image, line))

        if target.fetch is not None:  # a locked image not here: validated, pulled only now
            lock_policy.fetch(self.model, {name: target.fetch}, report)
        if target.build is not None:
            builds.build_missing(self.model, [target.build], report)  # and pushed
        if not history.revisions(name):
            self._record_start(name, planned.from_image)
        info = self.model.image(target.image)  # found during validation: no second look-up
        with closing(self.model.engine.changes()) as feed:  # opened before "started"
            revision = history.begin_revision(
                name,
                target.tag,
                target.image,
                info.id if info else "",
                target.image.partition("@")[2] or (info.digest if info else None),
                cause,
                planned.settings.strategy,
            )
            rollout_id = history.start_rollout(
                name,
                planned.from_version,
                planned.from_image,
                target.tag,
                target.image,
                revision.number,
                os.getpid(),
                planned.from_config,
                planned.options,
            )
            if planned.canary is not None:
                result = self._canary(planned, emit, rollout_id, feed, pause=pause).run(
                    planned.from_image, target.image, planned.from_version, target.tag
                )
            else:
                result = self._runner(planned, emit, rollout_id, feed, pause=pause).run(
                    planned.from_image,
                    target.image,
                    planned.from_version,
                    target.tag,
                    planned.from_config,
                )
        history.finish_revision(name, revision.number, result.outcome, result.reason)
        # ^ before the joiners:
        self._rejoin(name, emit)  # their failure is theirs, not an unfinished revision
        return result

    def _record_start(self, service: str, image: str) -> None:
        """Record the image a service ran before its first revision (started by a plain
        `up` or by Compose, no version asked), as a complete revision: `rollback` goes
        back to it: the bytes its replicas run (the tag may have moved since); none run it,
        nothing is recorded."""
        engine = self.model.engine
        ran = [r.image_id for r in engine.replicas(service) if same_image_ref(r.image_ref, image)]
        if not ran:
            return
        history = self.model.history()
        digest = image.partition("@")[2] or engine.digests([ran[0]]).get(ran[0])
        version = split_image_ref(image)[1]
        cause = "running before its first rollout"
        first = history.begin_revision(service, version, image, ran[0], digest, cause)
        history.finish_revision(service, first.number, "complete")

    def _rejoin(self, service: str, emit: Emit) -> None:
        """Recreate the services that join `service`'s network on its new container."""
        if recreated := joiners.rejoin(self.model, service):
            emit(JoinersRecreated(service, recreated))

    def rollback_plan(
        self, service: str, to_revision: int | None, options: Mapping[str, Any]
    ) -> tuple[RolloutPlan, str]:
        """The plan back to the previous revision (or revision N), and its cause."""
        self.model.service(service)
        history = self.model.history()
        if to_revision is None:
            revision = history.previous(service)
            if (edited := history.edited_from(service)) is not None:
                back = f"agentlab rollback {service} --to-revision"
                other = f"; or {back} {revision.number} ({revision.version})" if revision else ""
                raise BadInput(
                    f"{service}'s last revision changed its configuration only (revision "
                    f"{edited.number} ran the same image): a rollback changes images, not "
                    "the compose files",
                    hint=f"undo the edit in the compose files, then agentlab up{other}",
                )
            if revision is None:
                raise BadInput(f"{service} has no earlier revision", hint="agentlab history")
        else:
            revision = history.revision(service, to_revision)
            if revision is None:
                raise BadInput(
                    f"{service} has no revision {to_revision}", hint=f"agentlab history {service}"
                )
        image = registry.revision_image(self.model, revision)
        if self.model.image(image) is None:
            raise BadInput(
                f"image {image} of revision {revision.number} is gone",
                hint=f"rebuild it: agentlab images build --version {revision.version}",
            )
        target = Resolved(service, revision.version, image)
        planned = self.prepare(service, target, options)
        back = f"rollback to revision {revision.number}"  # said as it starts
        planned = replace(planned, note="; ".join(filter(None, [back, planned.note])))
        return planned, f"rollback --to-revision {revision.number}"

    def continue_unfinished(
        self, service: str | None, undo: bool, emit: Emit, pause: PauseFlag = never
    ) -> RolloutResult:
        """`rollout resume` / `rollout undo`: converge an interrupted or paused rollout."""
        if service is not None:
            self.model.service(service)
        self.model.engine.check()
        with project_lock(self.model.state_dir, "rollout undo" if undo else "rollout resume"):
            self.layer.sync()
            with finished_last(emit) as held:
                return self._continue(service, undo, held, pause)

    def _continue(
        self, service: str | None, undo: bool, emit: Emit, pause: PauseFlag
    ) -> RolloutResult:
        history = self.model.history()
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
        spec = self.model.service(entry.service)
        target = Resolved(entry.service, entry.to_version, entry.to_image)
        planned = continued_plan(spec, entry, target, self.settings)
        away = ConfigTarget(entry.from_config) if entry.from_config is not None else None
        back = replace(away, back=True) if away is not None else None
        recorded = canaries.recorded_plan(entry.steps)
        finishing = rolling_back(entry) and not undo  # a failed one's rollback, to its end
        doomed = being_removed(entry)
        with closing(self.model.engine.changes()) as feed:
            first_step = len(entry.steps) + 1
            back_plan = replace(planned, settings=planned.rollback_settings)
            run = self._runner(back_plan if finishing else planned, emit, entry.rollout_id, feed,
                               first_step, pause, doomed=doomed)  # fmt: skip
            if recorded is not None and not undo and not finishing:  # on from its step
                canary, position = recorded
                planned = replace(planned, canary=canary, canary_record=None)
                canary_run = self._canary(planned, emit, entry.rollout_id, feed, first_step, pause,
                                          doomed)  # fmt: skip
                result = canary_run.run(
                    entry.from_image, entry.to_image, entry.from_version, entry.to_version,
                    position,
                )  # fmt: skip
            elif undo or finishing:
                result = run.converge(
                    entry.from_image,
                    entry.from_version,
                    from_version=entry.to_version,
                    undo=undo,
                    ends_rollback=not undo,
                    config=back,
                )
            else:
                result = run.converge(
                    entry.to_image,
                    entry.to_version,
                    from_version=entry.from_version,
                    rollback_image=entry.from_image,
                    rollback_version=entry.from_version,
                    config=away,
                    rollback_config=back,
                )
        history.finish_revision(entry.service, entry.revision_number, result.outcome, result.reason)
        self._rejoin(entry.service, emit)  # after: a joiner's failure is not an unfinished rollout
        return result

    def unfinished(self) -> list[str]:
        """One line per interrupted or paused rollout (shown by every command)."""
        if not self.model.has_history():
            return []
        return [describe_unfinished(e) for e in interrupted(self.model.history())]

    def _canary(
        self,
        planned: RolloutPlan,
        emit: Emit,
        rollout_id: str,
        feed: ChangeFeed,
        first_step: int = 1,
        pause: PauseFlag = never,
        doomed: Collection[str] = (),
    ) -> CanaryRunner:
        """A canary runner for a plan: weights through the traffic layer when the service
        is behind it, replica counts otherwise."""
        assert planned.canary is not None
        name = planned.service.name
        requests = canaries.CanaryRequests(self.model.state_dir)
        requests.clear(name)

        def runners(
            service: ServiceSpec,
            settings: RolloutSettings,
            leave_alone: Collection[str],
            journal: Journal,
            events: Emit,
            first: int,
        ) -> RolloutRunner:
            inner = replace(planned, service=service, settings=settings)
            return self._runner(inner, events, rollout_id, feed, first, pause, journal=journal,
                                leave_alone=leave_alone, gate=gate, doomed=doomed,
                                final=False)  # fmt: skip

        gate = self.layer.gate(name)  # one for the canary and its runs: it holds the split
        return CanaryRunner(
            self.model.engine, planned.service, planned.settings, planned.canary, runners,
            emit, self.model.history(), rollout_id, gate=gate or NoGate(),
            exact=gate is not None, label=image_tag(planned.target.tag),
            stable_label=image_tag(planned.from_version),
            meter=canaries.meter(self.layer, name), requests=lambda: requests.take(name),
            wait=feed.wait, first_step=first_step, plan_detail=planned.canary_record,
            preview=self.layer.preview_url(name) if gate is not None else "",
            pause_requested=pause, prometheus=prometheus.query_function(self.model, planned.canary),
        )  # fmt: skip

    def _runner(
        self,
        planned: RolloutPlan,
        emit: Emit,
        rollout_id: str,
        feed: ChangeFeed,
        first_step: int = 1,
        pause: PauseFlag = never,
        journal: Journal | None = None,
        leave_alone: Collection[str] = (),
        gate: TrafficGate | None = None,
        doomed: Collection[str] = (),
        final: bool = True,
    ) -> RolloutRunner:
        """A runner for a plan that sleeps on `feed`: it observes again as soon as a
        container starts, dies or changes health, else after a fallback poll (1 s);
        `final`: its end is the rollout's (not a canary's inner run)."""
        name = planned.service.name

        def pin(image: str) -> None:
            if planned.from_config is None:  # an edited configuration keeps the files' image
                self.model.write_pins({name: image})

        return RolloutRunner(
            self.model.engine,
            planned.service,
            planned.settings,
            pin,
            emit,
            journal or self.model.history(),
            rollout_id,
            rollback_settings=planned.rollback_settings,
            feed=feed,
            first_step=first_step,
            pause_requested=pause,
            note=planned.note,
            gate=gate or self.layer.gate(name),
            leave_alone=leave_alone,
            doomed=doomed,
            final=final,
        )
