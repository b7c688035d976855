"""The facade both faces call. `Lab` holds one open project and delegates each job to the
service that owns it: catalogue (versions), builds (images), status, lifecycle (up, down,
scale), rollouts, drills. It returns typed results; the faces shape them."""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from agentlab.common.events import ProgressSink, quiet
from agentlab.engine.model import Replica, ServiceSpec
from agentlab.engine.protocol import Engine, EventStream
from agentlab.lab import builds, canaries, drills, locking, prometheus, registry, scaling
from agentlab.lab.canary_meter import CanaryMeter
from agentlab.lab.catalogue import Catalogue, Resolved, VersionRow
from agentlab.lab.drift import DriftReport
from agentlab.lab.drift_reading import read_drift
from agentlab.lab.lifecycle import Lifecycle
from agentlab.lab.model import EngineFactory, ProjectModel, compose_engine
from agentlab.lab.rollout_io import Emit, PauseFlag, drop, never
from agentlab.lab.rollout_plan import RolloutPlan
from agentlab.lab.rollouts import Rollouts
from agentlab.lab.status import LabStatus, read_status
from agentlab.lab.traffic_layer import TrafficLayer
from agentlab.lab.unfinished import left_line
from agentlab.lab.up_plan import UpPlan
from agentlab.project.location import Project
from agentlab.rollout.canary_requests import Request
from agentlab.rollout.phase import RolloutResult
from agentlab.rollout.settings import RolloutSettings
from agentlab.state.history import History
from agentlab.state.history_records import JournalEntry
from agentlab.state.lockfile import LockedService
from agentlab.traffic.metrics import VersionFigures
from agentlab.traffic.prometheus_api import Alert


class Lab:
    """One compose project managed by agentlab."""

    def __init__(
        self,
        project: Project,
        engine_factory: EngineFactory = compose_engine,
        engine: Engine | None = None,
    ) -> None:
        self.model = ProjectModel(project, engine_factory, engine)
        self.catalogue = Catalogue(self.model)
        self.traffic_layer = TrafficLayer(self.model)
        self.rollouts = Rollouts(self.model, self.catalogue, self.traffic_layer)
        self.lifecycle = Lifecycle(self.model, self.catalogue, self.rollouts, self.traffic_layer)

    # ---- the project --------------------------------------------------------

    @property
    def project(self) -> Project:
        return self.model.project

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def environment(self) -> str:
        """The environment this lab runs as: `default` without -e (the lock's section)."""
        return self.project.environment_name

    @property
    def state_dir(self) -> Path:
        return self.model.state_dir

    @property
    def override_path(self) -> Path:
        return self.model.override_path

    @property
    def engine(self) -> Engine:
        return self.model.engine

    @property
    def services(self) -> dict[str, ServiceSpec]:
        return self.model.services

    @property
    def managed(self) -> list[str]:
        return self.model.managed

    @property
    def primary(self) -> list[str]:
        return self.model.primary

    def service(self, name: str) -> ServiceSpec:
        """A managed service, or BadInput naming the ones there are."""
        return self.model.service(name)

    def current_image(self, service: str) -> str | None:
        return self.model.current_image(service)

    def history(self) -> History:
        return self.model.history()

    def reload(self) -> None:
        """Forget cached reads after a pin or a file changed."""
        self.model.reload()

    # ---- versions and images ------------------------------------------------

    def versions(self, service: str | None = None) -> dict[str, list[VersionRow]]:
        return self.catalogue.versions(service)

    def plan_pins(self, version: str | None, sets: Mapping[str, str]) -> list[Resolved]:
        return self.catalogue.plan_pins(version, sets)

    def build_images(
        self,
        version: str | None,
        service: str | None,
        force: bool,
        base: str | None,
        progress: ProgressSink = quiet,
        from_git: bool = False,
    ) -> list[str]:
        """Build what is missing: the catalogue, or versions of the services with build:
        (`version`, else from git with `from_git`). The tags built."""
        return builds.build_images(self.model, version, service, force, base, progress, from_git)

    def list_images(self) -> list[builds.ImageRow]:
        return builds.list_images(self.model)

    def push_images(
        self, service: str | None, version: str | None, progress: ProgressSink = quiet
    ) -> list[tuple[str, str]]:
        """Push local images to the lab's registry; (tag, digest) pairs."""
        return registry.push_images(self.model, service, version, progress)

    def pull_image(self, service: str, version: str, progress: ProgressSink = quiet) -> str:
        """Fetch a version from the lab's registry; its digest."""
        return registry.pull_image(self.model, service, version, progress)

    def registry_state(self) -> registry.RegistryState | None:
        """Where the lab's registry is and whether it answers (None: it has none)."""
        return registry.state(self.model)

    def lock(self) -> tuple[Path, dict[str, LockedService]]:
        """Write agentlab.lock: every managed service's pinned image by digest."""
        return locking.write_lock(self.model)

    # ---- status, up, down, scale --------------------------------------------

    def status(self, replicas: list[Replica] | None = None) -> LabStatus:
        """Every service and replica (of `replicas` when just observed, else read now),
        and the canaries running or left unfinished."""
        status = read_status(self.model, replicas)
        unfinished = canaries.unfinished_canaries(self.model, self.traffic_layer)
        return replace(status, canaries=unfinished) if unfinished else status

    def drift(self) -> DriftReport:
        """What differs from what was decided: moved tags, replicas on other images."""
        return read_drift(self.model)

    def up(
        self,
        version: str | None,
        sets: Mapping[str, str],
        timeout: float,
        progress: ProgressSink = quiet,
        cause: str = "up",
        traffic_layer: Sequence[str] = (),
        locked: bool = False,
    ) -> LabStatus:
        """Pin versions (`locked`: agentlab.lock's digests), put `traffic_layer` services
        (and agentlab.yaml's) behind the proxy, start the lab, wait until every replica is
        ready; the status then."""
        pinned = locking.locked_targets(self.model, progress) if locked else ()
        replicas = self.lifecycle.up(version, sets, timeout, progress, cause, traffic_layer, pinned)
        return self.status(replicas)

    def plan_up(
        self,
        version: str | None,
        sets: Mapping[str, str],
        traffic_layer: Sequence[str] = (),
        locked: bool = False,
    ) -> UpPlan:
        """Every check `up` makes, and what it would do (`up --dry-run`), touching nothing:
        no file written, nothing built, fetched, started or changed (the lab's registry is
        asked about locked digests only when it runs)."""
        pinned = locking.locked_targets(self.model, quiet, start=False) if locked else ()
        return self.lifecycle.plan(version, sets, traffic_layer, pinned)

    def down(self, volumes: bool, progress: ProgressSink = quiet) -> None:
        self.lifecycle.down(volumes, progress)

    def scale(
        self, service: str, replicas: int, timeout: float = 120.0, progress: ProgressSink = quiet
    ) -> None:
        settings = self.rollouts.settings(service, {"timeout": timeout})
        scaling.scale(self.model, self.traffic_layer, service, replicas, settings, progress)

    # ---- rollouts -----------------------------------------------------------

    def rollout_settings(self, service: str) -> RolloutSettings:
        """The settings a rollout of `service` gets without options (agentlab.yaml and
        the service's update_config): what a form is prefilled with."""
        return self.rollouts.settings(service)

    def plan_rollout(
        self,
        service: str,
        to: str,
        options: Mapping[str, Any] | None = None,
        from_image: str | None = None,
        running: bool = True,
    ) -> RolloutPlan:
        """Validate a rollout (version, settings, surge safety) without touching anything;
        with `running`, refuse as it would a service none of whose replicas runs (the
        watcher validates an edit without: then the pin is all that changes)."""
        planned = self.rollouts.plan(service, to, options, from_image)
        if running:
            self.rollouts.refuse_stopped(planned)
        return planned

    def rollout(
        self,
        service: str,
        to: str,
        options: Mapping[str, Any] | None = None,
        emit: Emit = drop,
        cause: str = "rollout",
        pause: PauseFlag = never,
        from_image: str | None = None,
    ) -> RolloutResult:
        """Replace a service's replicas with another version, gated by health. `pause` is
        polled between steps: when it returns True the rollout stops where it is.
        `from_image` is what the service runs when the override already asks for another."""
        self.engine.prepare_to_mutate()
        planned = self.rollouts.plan(service, to, options, from_image)
        return self.rollouts.run(planned, emit, cause, pause)

    def rollback(
        self,
        service: str,
        to_revision: int | None,
        emit: Emit = drop,
        options: Mapping[str, Any] | None = None,
        pause: PauseFlag = never,
    ) -> RolloutResult:
        """Roll back to the previous revision, or to revision N, with the same care."""
        self.engine.prepare_to_mutate()
        planned, cause = self.rollouts.rollback_plan(service, to_revision, options or {})
        return self.rollouts.run(planned, emit, cause, pause)

    def continue_rollout(
        self, service: str | None, undo: bool, emit: Emit = drop, pause: PauseFlag = never
    ) -> RolloutResult:
        """`rollout resume` / `rollout undo`: converge an interrupted or paused rollout."""
        return self.rollouts.continue_unfinished(service, undo, emit, pause)

    def request_canary(self, service: str, request: Request, wait: float = 2.0) -> bool:
        """`agentlab promote` / `abort` / `weight`: ask the running canary of `service`;
        True when it took the request within `wait` seconds (else it takes it at its next
        pause or analysis)."""
        canaries.send_request(self.model, service, request)
        deadline = time.monotonic() + wait
        while not canaries.request_taken(self.model, service):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def canary_meter(self, service: str) -> CanaryMeter | None:
        """Per-version rates of `service` as the traffic layer counts them (None: the
        service is not behind it); each sample reads the proxy's meter over HTTP."""
        read = canaries.meter(self.traffic_layer, service)
        return None if read is None else CanaryMeter(read)

    def unfinished(self) -> list[str]:
        """One line per interrupted or paused rollout (shown by every command)."""
        return self.rollouts.unfinished()

    def stopped_here(self, but: Collection[str] = ()) -> list[str]:
        """The services whose rollout this process began and left unfinished (an
        interrupt's hint names them), but the rollouts `but` names (their ids)."""
        return [e.service for e in self.unfinished_here() if e.rollout_id not in but]

    def left_here(self) -> list[str]:
        """One line with its hint per rollout this process began and left unfinished."""
        return [left_line(entry) for entry in self.unfinished_here()]

    def unfinished_here(self) -> list[JournalEntry]:
        """The rollouts this process began and has not finished (running or paused)."""
        if not self.model.has_history():
            return []
        return [e for e in self.model.history().unfinished() if e.pid == os.getpid()]

    # ---- drills and traffic -------------------------------------------------

    def replica(self, name_or_id: str) -> Replica:
        return drills.find_replica(self.model, name_or_id)

    def kill(self, name_or_id: str) -> Replica:
        """SIGKILL one replica, to show health checks and restarts."""
        replica = self.replica(name_or_id)
        self.engine.kill_replica(replica.id)
        return replica

    def logs(self, name_or_id: str, lines: int = 50) -> str:
        return self.engine.logs_tail(self.replica(name_or_id).id, lines)

    def events(self) -> EventStream:
        """The project's container events: iterate on one long-lived thread; close() ends it."""
        return self.engine.events()

    def traffic_url(self) -> str:
        return drills.traffic_url(self.model, self.traffic_layer)

    def alerts(self) -> tuple[str, list[Alert]]:
        """The lab's Prometheus (its URL) and the alerts of its rules pending or firing;
        BadInput when it has none running."""
        api = prometheus.api(self.model)
        return api.url, api.alerts()

    def proxy_figures(self, url: str) -> dict[str, VersionFigures] | None:
        """Per version, what agentlab's traffic layer served behind `url` so far (None
        when `url` does not go through it): counters, to subtract from a later reading."""
        return self.traffic_layer.figures(url)
