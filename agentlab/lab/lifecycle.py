"""Bringing the lab up and down, and scaling a service: start, then wait for health."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import closing, suppress

from agentlab.common.errors import AgentlabError, EngineUnavailable, OperationFailed
from agentlab.common.events import ProgressSink, quiet
from agentlab.engine.model import Replica
from agentlab.lab import builds, environment_ports, lock_policy, prometheus, readiness, registry
from agentlab.lab.catalogue import Catalogue, Resolved
from agentlab.lab.model import ProjectModel
from agentlab.lab.rollout_io import failure_details
from agentlab.lab.rollout_plan import RolloutPlan
from agentlab.lab.rollouts import Rollouts
from agentlab.lab.traffic_layer import TrafficLayer
from agentlab.lab.up_plan import MOVING, RECREATED, UpPlan, plan_up
from agentlab.state.history_records import EDITED_CONFIGURATION
from agentlab.state.lock import project_lock

PROXY_START = 30.0  # s HAProxy may take to listen once its container runs


class Lifecycle:
    """up, down and scale over one project model."""

    def __init__(
        self, model: ProjectModel, catalogue: Catalogue, rollouts: Rollouts, layer: TrafficLayer
    ) -> None:
        self.model = model
        self.catalogue = catalogue
        self.rollouts = rollouts
        self.layer = layer

    def plan(
        self,
        version: str | None,
        sets: Mapping[str, str],
        traffic_layer: Sequence[str] = (),
        locked_pins: Sequence[Resolved] = (),
    ) -> UpPlan:
        """Validate `up` and say what it will do, touching nothing (`up --dry-run`)."""
        return plan_up(
            self.model, self.catalogue, self.rollouts, self.layer,
            version, sets, traffic_layer, locked_pins,
        )  # fmt: skip

    def up(
        self,
        version: str | None,
        sets: Mapping[str, str],
        timeout: float,
        progress: ProgressSink,
        cause: str,
        traffic_layer: Sequence[str] = (),
        locked_pins: Sequence[Resolved] = (),
    ) -> list[Replica]:
        """Pin versions (and the images `locked_pins` name, e.g. locked digests), put services
        behind the traffic layer, start the lab, wait until every replica is ready; the
        replicas then. Running services whose image changes (asked for here, or edited in
        the compose file) are rolled out, not recreated."""
        self.model.engine.prepare_to_mutate()
        planned = self.plan(version, sets, traffic_layer, locked_pins)
        return self.apply(planned, timeout, progress, cause)

    def apply(
        self, planned: UpPlan, timeout: float, progress: ProgressSink, cause: str
    ) -> list[Replica]:
        """Run a validated plan under the project lock: fetch and build what it needs,
        write the override, roll out the running services it changes, start the lab and
        wait until every replica is ready."""
        model = self.model
        with project_lock(model.state_dir, cause):
            lock_policy.fetch(model, planned.fetches, progress)
            builds.build_missing(model, list(planned.builds), progress)  # pushed with a registry
            self.layer.apply(planned.layered)
            if registry.settings(model) is not None:
                registry.configure(model)  # `compose up` starts the lab's registry too
            environment_ports.apply(model, progress)
            for rollout in planned.rolls:
                self._roll_within_up(rollout, progress, cause)
            fresh = planned.fresh
            model.write_pins({r.service: r.image for r in fresh})
            history = model.history()
            revisions = []
            for item in fresh:
                info = model.image(item.image)
                image_id, digest = (info.id, info.digest) if info else ("", None)
                digest = item.image.partition("@")[2] or digest  # a pin by digest: that one
                revisions.append(
                    history.begin_revision(
                        item.service, item.tag, item.image, image_id, digest, cause
                    )
                )
            for change in planned.changes:
                if change.recreated:
                    progress(f"{change.service}: {change.recreated}: {RECREATED}")
            for name in planned.moving:
                progress(f"{name}: {MOVING}")
            if planned.orphans:
                progress(planned.orphans_line())
            pinned = ", ".join(f"{r.service}={r.tag}" for r in planned.pinned)
            progress(f"starting {model.name} ({pinned or 'current versions'})")
            if prometheus.remove_if_off(model):
                progress("prometheus: removed (no longer in agentlab.yaml)")
            try:
                replicas = self.start_and_wait(None, {}, list(model.services), timeout, progress)
            except (AgentlabError, KeyboardInterrupt):  # Ctrl-C, SIGTERM: not left in progress
                for rev in revisions:
                    history.finish_revision(rev.service, rev.number, "failed")
                raise
            for rev in revisions:
                history.finish_revision(rev.service, rev.number, "complete")
            if planned.layered:
                progress(f"traffic layer: {', '.join(planned.behind)} behind {planned.proxy_image}")
                self._wait_for_proxy()
                self.layer.sync()
                if (scraper := prometheus.url(model)) is not None:
                    progress(f"prometheus: {scraper} (scrapes the traffic layer)")
        return replicas

    def _long_running(self) -> list[str]:
        """The managed services that must keep running: not the jobs, which exit 0 once
        done (a migration another service waits for)."""
        services = self.model.services
        return [name for name in self.model.managed if not services[name].job]

    def _wait_for_proxy(self) -> None:
        """HAProxy listens a moment after its container starts: wait (bounded) until its
        runtime API answers before routing through it (sync says it if it never does)."""
        deadline = time.monotonic() + PROXY_START
        while time.monotonic() < deadline:
            with suppress(EngineUnavailable):
                if self.layer.router().command("show info"):
                    return
            time.sleep(0.1)

    def start_and_wait(
        self,
        services: list[str] | None,
        scales: Mapping[str, int],
        wait_for: list[str],
        timeout: float,
        progress: ProgressSink,
    ) -> list[Replica]:
        """`compose up -d` (only `services` when given, without recreating or their
        dependencies), then wait until every container of `wait_for` is ready."""
        engine = self.model.engine
        with closing(engine.changes()) as feed:  # opened first: no change is missed
            if services is None:
                engine.up()
            else:
                engine.up(services, scales=scales, recreate=False, deps=False)
            return readiness.wait_until_ready(
                engine, feed, wait_for, self._long_running(), timeout, progress
            )

    def _roll_within_up(self, planned: RolloutPlan, progress: ProgressSink, cause: str) -> None:
        """`up --set` on a running service goes through the rollout machinery."""
        name = planned.service.name
        progress(f"rolling {name} {planned.change}")
        if planned.from_config is not None:  # history says so: only the files go back
            cause += EDITED_CONFIGURATION
        result = self.rollouts.execute(planned, lambda event: progress(event.line()), cause)
        self.model.reload()
        if result.outcome != "complete":
            raise OperationFailed(
                f"{name}: {result.message}",
                hint=result.hint or "agentlab history shows what ran",
                details=failure_details(result),
            )

    def down(self, volumes: bool, progress: ProgressSink = quiet) -> None:
        self.model.engine.check()
        with project_lock(self.model.state_dir, "down"):
            progress(f"taking project {self.model.name} down (a container that ignores "
                     "SIGTERM takes its stop grace period)")  # fmt: skip
            self.model.engine.down(volumes=volumes)
