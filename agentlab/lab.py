"""The facade both faces call: up, status, down, images, versions (and rollouts)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from agentlab import images as image_builds
from agentlab import readiness, rollouts
from agentlab.engine.protocol import Engine, EventStream, ImageInfo, Replica
from agentlab.errors import AgentlabError, BadInput, OperationFailed
from agentlab.history import History
from agentlab.lock import project_lock
from agentlab.override import read_pins, update_override
from agentlab.project import Project
from agentlab.rollout.runner import RolloutResult
from agentlab.services import ServiceSpec, services_from_config, split_image_ref
from agentlab.versions import (
    NoMatchingVersion,
    check_policy,
    parse_requirement,
    parse_version,
    resolve,
    sort_tags,
    try_version,
)

Progress = Callable[[str], None]
REQUIRES_LABEL = "io.agentlab.requires"
EngineFactory = Callable[[Project, str, Path], Engine]


def _quiet(_: str) -> None:
    """A progress sink that drops messages."""


@dataclass(frozen=True)
class ServiceStatus:
    """One service as `status` shows it."""

    name: str
    managed: bool
    image: str | None
    desired: int
    replicas: list[Replica]
    blockers: list[str]

    @property
    def ready(self) -> int:
        return sum(1 for r in self.replicas if r.ready)

    def to_json(self, now: datetime, digests: Mapping[str, str | None]) -> dict[str, Any]:
        return {
            "service": self.name,
            "managed": self.managed,
            "image": self.image,
            "desired": self.desired,
            "ready": self.ready,
            "surge_blockers": self.blockers,
            "replicas": [replica_json(r, now, digests.get(r.image_id)) for r in self.replicas],
        }


@dataclass(frozen=True)
class LabStatus:
    """Every service and replica of the project, from one batched inspect."""

    project: str
    services: list[ServiceStatus]
    digests: Mapping[str, str | None] = field(default_factory=dict)
    taken_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "taken_at": self.taken_at.isoformat(),
            "services": [s.to_json(self.taken_at, self.digests) for s in self.services],
        }


@dataclass(frozen=True)
class Resolved:
    """A service's requested version, resolved to a local (or buildable) image."""

    service: str
    tag: str
    image: str
    build: image_builds.BuildJob | None = None


def replica_json(replica: Replica, now: datetime, digest: str | None) -> dict[str, Any]:
    uptime = replica.uptime_seconds(now)
    return {
        "container": replica.name,
        "id": replica.short_id,
        "service": replica.service,
        "image": replica.image_ref,
        "tag": split_image_ref(replica.image_ref)[1],
        "version": replica.version,
        "image_id": replica.short_image_id,
        "digest": digest,
        "state": replica.state,
        "health": replica.health,
        "uptime_s": None if uptime is None else round(uptime, 1),
        "restarts": replica.restart_count,
    }


def failure_details(result: RolloutResult) -> str:
    """Health output and log tails of the replicas that failed a rollout."""
    lines = []
    for failed in result.failures[:3]:
        lines.append(f"--- {failed.name} ({failed.version}): {failed.reason}")
        if failed.health_output:
            lines.append(f"health: {failed.health_output}")
        if failed.logs_tail:
            lines.append(failed.logs_tail.rstrip())
    return "\n".join(lines)


def default_project_name(project: Project) -> str:
    """What Compose would call the project: $COMPOSE_PROJECT_NAME, `name:`, or the directory."""
    if os.environ.get("COMPOSE_PROJECT_NAME"):
        return os.environ["COMPOSE_PROJECT_NAME"]
    try:
        doc = yaml.safe_load(project.compose_files[0].read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("name"), str):
        return str(doc["name"])
    return re.sub(r"[^a-z0-9_-]", "", project.directory.name.lower()) or "default"


def compose_engine(project: Project, name: str, override: Path) -> Engine:
    from agentlab.engine.compose import ComposeEngine

    return ComposeEngine(project.compose_files, name, override)


class Lab:
    """One compose project managed by agentlab."""

    def __init__(self, project: Project, engine_factory: EngineFactory = compose_engine) -> None:
        self.project = project
        self.name = project.name or default_project_name(project)
        self.state_dir = project.state_dir(self.name)
        self.override_path = self.state_dir / "override.yaml"
        self.engine = engine_factory(project, self.name, self.override_path)
        self._good_pins: dict[str, str] = {}
        self._images: dict[str, ImageInfo] = {}

    # ---- model ------------------------------------------------------------

    @cached_property
    def services(self) -> dict[str, ServiceSpec]:
        """The resolved compose model (user files plus override); raises BadInput if broken."""
        return services_from_config(self.engine.compose_config())

    def reload(self) -> None:
        """Forget the cached compose model and image look-ups (after a pin or a file changed)."""
        self.__dict__.pop("services", None)
        self._images.clear()

    def image(self, ref: str) -> ImageInfo | None:
        """A local image; found ones are remembered until reload() (validation asks for the
        same ones several times), a missing one is asked again (it may be built meanwhile)."""
        found = self._images.get(ref) or self.engine.image(ref)
        if found is not None:
            self._images[ref] = found
        return found

    @property
    def managed(self) -> list[str]:
        """Services agentlab manages: from agentlab.yaml, else every service with an image."""
        chosen = self.project.settings.managed
        if chosen is None:
            return [name for name, spec in self.services.items() if spec.image]
        unknown = [name for name in chosen if name not in self.services]
        if unknown:
            raise BadInput(
                f"agentlab.yaml manages unknown service '{unknown[0]}'",
                hint=f"services: {', '.join(self.services)}",
            )
        return list(chosen)

    @property
    def primary(self) -> list[str]:
        """Services `--version` applies to: agentlab.yaml `primary`, else the managed services
        that have a build context (the ones you version), else every managed one."""
        if self.project.settings.primary:
            return list(self.project.settings.primary)
        built = [name for name in self.managed if self.services[name].build_context]
        return built or self.managed

    def history(self) -> History:
        """The project's revisions and rollout journal (opened once, shared by threads)."""
        return self._history

    @cached_property
    def _history(self) -> History:
        return History.open(self.state_dir / "state.db", keep=self.project.settings.history_keep)

    def service(self, name: str) -> ServiceSpec:
        """A managed service by name, or BadInput naming the ones that exist."""
        if name not in self.services:
            raise BadInput(
                f"unknown service '{name}'", hint=f"services: {', '.join(self.services)}"
            )
        if name not in self.managed:
            raise BadInput(
                f"service '{name}' is not managed by agentlab",
                hint=f"managed: {', '.join(self.managed)} (see agentlab.yaml 'managed')",
            )
        return self.services[name]

    def repository(self, service: str) -> str:
        spec = self.service(service)
        entry = self.project.settings.catalogue.get(service)
        repo = spec.repository or (entry.image if entry else None)
        if repo is None:
            raise BadInput(f"service '{service}' has no image", hint="give it an image: in compose")
        return repo

    # ---- versions ---------------------------------------------------------

    def local_tags(self, service: str) -> list[ImageInfo]:
        return self.engine.images(self.repository(service))

    def resolve(self, service: str, spec: str) -> Resolved:
        """Resolve a version or range to a local tag; an exact missing version may be built."""
        repo = self.repository(service)
        exact = self._exact_local_tag(repo, spec)
        if exact is not None:
            return Resolved(service, exact, f"{repo}:{exact}")
        tags = [info.tag for info in self.local_tags(service)]
        policy = self.project.settings.policy
        try:
            tag = resolve(spec, tags, policy)
            return Resolved(service, tag, f"{repo}:{tag}")
        except NoMatchingVersion as missing:
            job = self._build_job(service, spec)
            if job is None:
                raise BadInput(
                    f"no local image of {service} matches {spec}, and none can be built",
                    hint=f"local versions: {', '.join(missing.available) or 'none'}",
                ) from None
            return Resolved(service, job.version, job.tag, job)

    def _exact_local_tag(self, repo: str, spec: str) -> str | None:
        """The tag an exact version names, as typed or without/with its `v`, when it is
        local: one inspect instead of listing every tag of the repository."""
        try:
            version = str(parse_version(spec))
        except BadInput:
            return None
        for tag in dict.fromkeys((spec.strip(), version, f"v{version}")):
            if self.image(f"{repo}:{tag}") is not None:
                return tag
        return None

    def _build_job(self, service: str, spec: str) -> image_builds.BuildJob | None:
        try:
            wanted = parse_version(spec)
        except BadInput:
            return None  # a range or policy word: only local tags can satisfy it
        base = image_builds.base_image(None)
        entry = self.project.settings.catalogue.get(service)
        if entry is not None:
            for version in entry.versions:
                if parse_version(version) == wanted:
                    return image_builds.catalogue_jobs(entry, base, version)[0]
            return None
        spec_ = self.services[service]
        if spec_.build_context is None:
            return None
        return image_builds.context_job(
            service,
            self.repository(service),
            spec.lstrip("vV"),
            Path(spec_.build_context),
            base,
        )

    def pins(self, strict: bool = True) -> dict[str, str]:
        """The override's pins. A view (`strict=False`) keeps showing the last good ones
        while a hand edit of the override does not parse; anything that acts raises."""
        try:
            self._good_pins = read_pins(self.override_path)
        except BadInput:
            if strict:
                raise
        return self._good_pins

    def current_image(self, service: str) -> str | None:
        """The image a service is pinned to (override), else the compose file's."""
        return self.pins().get(service) or self.services[service].image

    def versions(self, service: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Local and buildable versions per managed service, semver-sorted, current marked."""
        names = [self.service(service).name] if service else self.managed
        policy = self.project.settings.policy
        result = {}
        for name in names:
            local = {info.tag: info for info in self.local_tags(name)}
            entry = self.project.settings.catalogue.get(name)
            recipes = dict(entry.versions) if entry else {}
            current = self.current_image(name)
            current_tag = split_image_ref(current)[1] if current else None
            rows = []
            for tag in sort_tags(set(local) | set(recipes)):
                recipe = recipes.get(tag)
                rows.append(
                    {
                        "version": tag,
                        "current": tag == current_tag,
                        "local": tag in local,
                        "image_id": local[tag].id.removeprefix("sha256:")[:12]
                        if tag in local
                        else None,
                        "blocked": check_policy(tag, policy),
                        "note": recipe.note if recipe else "",
                        "requires": (
                            local[tag].labels.get(REQUIRES_LABEL)
                            if tag in local
                            else (recipe.labels.get(REQUIRES_LABEL) if recipe else None)
                        ),
                    }
                )
            result[name] = rows
        return result

    # ---- images -----------------------------------------------------------

    def build_images(
        self,
        version: str | None,
        service: str | None,
        force: bool,
        base: str | None,
        progress: Progress = _quiet,
    ) -> list[str]:
        """Build the catalogue (or one service/version); only what is missing unless force."""
        base_ref = image_builds.base_image(base)
        catalogue = self.project.settings.catalogue
        wanted = version.lstrip("vV") if version else None
        if wanted is not None:
            parse_version(wanted)
        names = [service] if service else list(catalogue) or self.managed
        jobs: list[image_builds.BuildJob] = []
        for name in names:
            self.service(name)
            if name in catalogue:
                jobs += image_builds.catalogue_jobs(catalogue[name], base_ref, wanted)
            elif wanted is not None and self.services[name].build_context:
                spec = self.services[name]
                jobs.append(
                    image_builds.context_job(
                        name, self.repository(name), wanted, Path(str(spec.build_context)), base_ref
                    )
                )
        if not jobs:
            raise BadInput(
                "nothing to build" + (f" for version {version}" if version else ""),
                hint="add a catalogue to agentlab.yaml, or a build: context to the service",
            )
        with project_lock(self.state_dir, "images build"):
            built = image_builds.run_jobs(self.engine, jobs, force, base_ref, progress)
        return [job.tag for job in built]

    def list_images(self) -> dict[str, list[dict[str, Any]]]:
        """Local tags per managed service, semver-sorted."""
        result = {}
        for name in self.managed:
            infos = {info.tag: info for info in self.local_tags(name)}
            result[name] = [
                {
                    "tag": tag,
                    "image": infos[tag].ref,
                    "id": infos[tag].id.removeprefix("sha256:")[:12],
                    "version": infos[tag].labels.get(f"{image_builds.OCI}.version"),
                    "created": infos[tag].labels.get(f"{image_builds.OCI}.created"),
                }
                for tag in sort_tags(infos)
            ]
        return result

    # ---- status -----------------------------------------------------------

    def status(self, replicas: list[Replica] | None = None) -> LabStatus:
        """Every service and replica (of `replicas` when just observed, else read now)."""
        if replicas is None:
            replicas = self.engine.replicas()
        managed = set(self.managed)
        pins = self.pins(strict=False)
        by_service: dict[str, list[Replica]] = {name: [] for name in self.services}
        for replica in replicas:
            by_service.setdefault(replica.service, []).append(replica)
        services = []
        for name, members in by_service.items():
            spec = self.services.get(name)
            services.append(
                ServiceStatus(
                    name=name,
                    managed=name in managed,
                    image=pins.get(name) or (spec.image if spec else None),
                    desired=spec.replicas if spec else 0,
                    replicas=members,
                    blockers=spec.surge_blockers() if spec else [],
                )
            )
        return LabStatus(
            self.name, services, self.engine.digests([r.image_id for r in replicas if r.image_id])
        )

    # ---- up / down --------------------------------------------------------

    def plan_pins(self, version: str | None, sets: Mapping[str, str]) -> list[Resolved]:
        """Validate and resolve `--version` and `--set` before anything is touched."""
        requests: dict[str, str] = {}
        if version is not None:
            for name in self.primary:
                self.service(name)
                requests[name] = version
        for name, spec in sets.items():
            self.service(name)
            requests[name] = spec
        resolved = [self.resolve(name, spec) for name, spec in requests.items()]
        self.check_requirements(resolved)
        return sorted(resolved, key=lambda r: r.service not in self._required_by(resolved))

    def requirement(self, item: Resolved) -> str | None:
        """The `io.agentlab.requires` label of a resolved image (or of its build recipe)."""
        if item.build is not None:
            return item.build.labels.get(REQUIRES_LABEL)
        info = self.image(item.image)
        return info.labels.get(REQUIRES_LABEL) if info else None

    def _required_by(self, resolved: list[Resolved]) -> set[str]:
        names = set()
        for item in resolved:
            text = self.requirement(item)
            if text:
                names.add(parse_requirement(text)[0])
        return names

    def check_requirements(self, resolved: list[Resolved]) -> None:
        """Refuse a change after which some service's image requires another service at a
        version it would not run (`io.agentlab.requires`, e.g. collector>=2.0.0)."""
        planned = {r.service: r for r in resolved}
        after = {
            name: planned[name] if name in planned else self._current(name) for name in self.managed
        }
        for name, item in after.items():
            text = self.requirement(item) if item else None
            if not text or item is None:
                continue
            needed, wanted = parse_requirement(text)
            other = after.get(needed)
            version = try_version(other.tag) if other else None
            if version is None or not wanted.matches(version):
                changed = item if name in planned else planned.get(needed, item)
                raise BadInput(
                    f"{item.service} {item.tag} requires {text}, but {needed} would run "
                    f"{other.tag if other else 'nothing'}",
                    hint=f"change both together: agentlab up --set {needed}=VERSION "
                    f"--set {changed.service}={changed.tag}"
                    if changed is item
                    else f"roll {item.service} off {item.tag} first",
                )

    def _current(self, service: str) -> Resolved | None:
        image = self.current_image(service)
        return Resolved(service, split_image_ref(image)[1], image) if image else None

    def check_images_present(self, resolved: list[Resolved]) -> None:
        """Every managed service must have a local or buildable image (agentlab never pulls)."""
        planned = {r.service: r for r in resolved}
        for name in self.managed:
            if name in planned:
                continue
            image = self.current_image(name)
            if image and self.image(image) is None and not self.services[name].build_context:
                raise BadInput(
                    f"image {image} of service {name} is not present locally",
                    hint="agentlab images build, or pull it yourself: agentlab never pulls",
                )

    def up(
        self,
        version: str | None,
        sets: Mapping[str, str],
        timeout: float,
        progress: Progress = _quiet,
        cause: str = "up",
    ) -> LabStatus:
        """Pin versions, start the lab, wait until every replica is ready; the status then."""
        self.engine.prepare_to_mutate()
        resolved = self.plan_pins(version, sets)
        self.check_images_present(resolved)
        self.engine.check()
        with project_lock(self.state_dir, cause):
            for item in resolved:
                if item.build is not None:
                    progress(f"building {item.image}")
                    image_builds.run_jobs(
                        self.engine, [item.build], False, image_builds.base_image(None), progress
                    )
                    self._images.pop(item.image, None)
            pins = read_pins(self.override_path)
            changed = [r for r in resolved if pins.get(r.service) != r.image]
            running = {r.service for r in self.engine.replicas() if r.running}
            for item in [r for r in changed if r.service in running]:
                self._roll_within_up(item, progress, cause)
            fresh = [r for r in changed if r.service not in running]
            update_override(self.override_path, pins={r.service: r.image for r in fresh})
            history = self.history()
            revisions = [
                history.begin_revision(r.service, r.tag, r.image, *self._image_ids(r.image), cause)
                for r in fresh
            ]
            pinned = ", ".join(f"{r.service}={r.tag}" for r in resolved) or "current versions"
            progress(f"starting {self.name} ({pinned})")
            try:
                replicas = self._start_and_wait(None, {}, list(self.services), timeout, progress)
            except AgentlabError:
                for rev in revisions:
                    history.finish_revision(rev.service, rev.number, "failed")
                raise
            for rev in revisions:
                history.finish_revision(rev.service, rev.number, "complete")
        return self.status(replicas)

    def _start_and_wait(
        self,
        services: list[str] | None,
        scales: Mapping[str, int],
        wait_for: list[str],
        timeout: float,
        progress: Progress,
    ) -> list[Replica]:
        """`compose up -d` (only `services` when given, without recreating or their
        dependencies), then wait until every container of `wait_for` is ready."""
        with closing(self.engine.changes()) as feed:  # opened first: no change is missed
            if services is None:
                self.engine.up()
            else:
                self.engine.up(services, scales=scales, recreate=False, deps=False)
            return readiness.wait_until_ready(
                self.engine, feed, wait_for, self.managed, timeout, progress
            )

    def _roll_within_up(self, item: Resolved, progress: Progress, cause: str) -> None:
        """`up --set` on a running service goes through the rollout machinery."""
        plan = rollouts.prepare(self, item.service, item, {})
        progress(f"rolling {item.service} {plan.from_version} -> {item.tag}")
        result = rollouts.execute(self, plan, lambda event: progress(event.line()), cause)
        self.reload()
        if result.outcome != "complete":
            raise OperationFailed(
                f"{item.service}: {result.message}",
                hint=result.hint,
                details=failure_details(result),
            )

    def _image_ids(self, ref: str) -> tuple[str, str | None]:
        info = self.image(ref)
        return (info.id, info.digest) if info else ("", None)

    # ---- rollouts ---------------------------------------------------------

    def plan_rollout(
        self, service: str, to: str, options: Mapping[str, Any] | None = None
    ) -> rollouts.RolloutPlan:
        """Validate a rollout (version, settings, surge safety) without touching anything."""
        return rollouts.prepare(self, service, self.resolve(service, to), options or {})

    def rollout(
        self,
        service: str,
        to: str,
        options: Mapping[str, Any] | None = None,
        emit: rollouts.Emit = rollouts.drop,
        cause: str = "rollout",
        pause: rollouts.PauseFlag = rollouts.never,
    ) -> RolloutResult:
        """Replace a service's replicas with another version, gated by health. `pause` is
        polled between steps: when it returns True the rollout stops where it is."""
        self.engine.prepare_to_mutate()
        plan = self.plan_rollout(service, to, options)
        self.engine.check()
        with project_lock(self.state_dir, cause):
            return rollouts.execute(self, plan, emit, cause, pause)

    def rollback(
        self,
        service: str,
        to_revision: int | None,
        emit: rollouts.Emit = rollouts.drop,
        options: Mapping[str, Any] | None = None,
        pause: rollouts.PauseFlag = rollouts.never,
    ) -> RolloutResult:
        """Roll back to the previous revision, or to revision N, with the same care."""
        self.engine.prepare_to_mutate()
        self.service(service)
        history = self.history()
        if to_revision is None:
            revision = history.previous(service)
            if revision is None:
                raise BadInput(f"{service} has no earlier revision", hint="agentlab history")
        else:
            revision = history.revision(service, to_revision)
            if revision is None:
                raise BadInput(
                    f"{service} has no revision {to_revision}", hint=f"agentlab history {service}"
                )
        if self.image(revision.image_ref) is None:
            raise BadInput(
                f"image {revision.image_ref} of revision {revision.number} is gone",
                hint=f"rebuild it: agentlab images build --version {revision.version}",
            )
        target = Resolved(service, revision.version, revision.image_ref)
        plan = rollouts.prepare(self, service, target, options or {})
        cause = f"rollback --to-revision {revision.number}"
        self.engine.check()
        with project_lock(self.state_dir, cause):
            return rollouts.execute(self, plan, emit, cause, pause)

    def continue_rollout(
        self,
        service: str | None,
        undo: bool,
        emit: rollouts.Emit = rollouts.drop,
        pause: rollouts.PauseFlag = rollouts.never,
    ) -> RolloutResult:
        """`rollout resume` / `rollout undo`: converge an interrupted or paused rollout."""
        if service is not None:
            self.service(service)
        self.engine.check()
        with project_lock(self.state_dir, "rollout undo" if undo else "rollout resume"):
            return rollouts.continue_unfinished(self, service, emit, undo, pause)

    def unfinished(self) -> list[str]:
        """One line per interrupted or paused rollout (shown by every command)."""
        path = self.state_dir / "state.db"
        if not path.exists():
            return []
        return [rollouts.describe_unfinished(e) for e in rollouts.interrupted(self.history())]

    def traffic_url(self) -> str:
        """The gateway URL on 127.0.0.1 that traffic is sent to."""
        target = self.project.settings.traffic
        port = self.engine.published_port(target.service, target.port)
        if port is None:
            raise BadInput(
                f"{target.service} does not publish port {target.port}",
                hint="agentlab up first (traffic goes through the gateway)",
            )
        return f"http://127.0.0.1:{port}{target.path}"

    # ---- drills -----------------------------------------------------------

    def scale(
        self, service: str, replicas: int, timeout: float = 120.0, progress: Progress = _quiet
    ) -> None:
        """Run `replicas` containers of a service (at its pinned image) and wait for health."""
        self.engine.prepare_to_mutate()
        spec = self.service(service)
        if replicas < 0:
            raise BadInput("replicas must be 0 or more", hint=f"agentlab scale {service} 3")
        if replicas > 1 and spec.surge_blockers():
            raise BadInput(
                f"{service} cannot run {replicas} replicas: " + "; ".join(spec.surge_blockers()),
                hint="scale it to 1",
            )
        self.engine.check()
        with project_lock(self.state_dir, f"scale {service}"):
            self._start_and_wait([service], {service: replicas}, [service], timeout, progress)
            update_override(self.override_path, scales={service: replicas})  # rollouts keep it
            self.reload()

    def replica(self, name_or_id: str) -> Replica:
        """A replica of this project by container name or id prefix."""
        for replica in self.engine.replicas():
            if name_or_id in (replica.name, replica.short_id) or replica.id.startswith(name_or_id):
                return replica
        raise BadInput(
            f"no container '{name_or_id}' in project {self.name}", hint="agentlab status lists them"
        )

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

    def down(self, volumes: bool) -> None:
        self.engine.check()
        with project_lock(self.state_dir, "down"):
            self.engine.down(volumes=volumes)
