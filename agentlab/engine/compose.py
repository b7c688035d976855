"""The Compose adapter of the engine port: one project, the user's files plus the override.

Which calls go where:
- the Compose CLI (a `docker compose` process): `config` (cached beside the override),
  `up` (also a rollout's first new replica), `port`, and `version` in the check;
- the transport chosen once (engine/transport.py; the Engine API on a local socket, else
  the docker CLI): container and image reads, logs, per-replica stop/remove/kill;
- replica copies through the Engine API (engine/copies.py), on a local socket only;
- python-on-whales: `compose down` and a context's build, imported on first use (~0.3 s),
  off every timed path; a service's `compose build` is a process group of its own
  (engine/compose_builds.py), ended with the command.
Output is always captured, so Compose never writes to the terminal behind a TUI.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentlab.common.errors import EngineUnavailable, OperationFailed
from agentlab.common.events import ProgressSink
from agentlab.common.imagerefs import split_image_ref
from agentlab.engine import compose_builds, features, inspect
from agentlab.engine.api import ApiTransport, choose_transport
from agentlab.engine.cli import (
    COMPOSE_HINT,
    RETRY_HINT,
    capture,
    failure,
    finish,
    last_line,
    run_docker,
    start_docker,
)
from agentlab.engine.clone import clonable
from agentlab.engine.compose_files import cached_config, config_key
from agentlab.engine.compose_model import services_from_config
from agentlab.engine.copies import NoCopies, ReplicaCopies
from agentlab.engine.events import DockerEventStream, project_events
from agentlab.engine.model import (
    ContainerImage,
    Healthcheck,
    ImageInfo,
    NameChange,
    Replica,
    ServiceSpec,
)
from agentlab.engine.names import NameKeeper, service_names
from agentlab.engine.protocol import REVERT_HINT, ReplicaCopier
from agentlab.engine.removals import RemovalsInFlight
from agentlab.engine.transport import Transport
from agentlab.engine.wakeup import EventWakeup

if TYPE_CHECKING:
    from python_on_whales import DockerClient

_RECREATE = re.compile(r"Container (\S+)\s+Recreate\s*$", re.MULTILINE)  # `up --dry-run`
_COMPOSE_VERSION = ("compose", "version", "--short")


class ComposeEngine:
    """One Compose project: the user's files plus the agentlab override."""

    def __init__(
        self,
        compose_files: Sequence[Path],
        project: str | None,
        override: Path | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.compose_files = list(compose_files)
        self.override = override
        self.project = project or ""
        self.transport = transport or choose_transport()
        self._digests: dict[str, str | None] = {}
        self._compose_probe: subprocess.Popen[str] | None = None
        self._api_version = ""  # the engine's, once check() asked
        self._names = NameKeeper(self.transport)
        self._removals = RemovalsInFlight()
        self._copies: ReplicaCopies | NoCopies = (
            ReplicaCopies(self.transport, self._labels)
            if isinstance(self.transport, ApiTransport)
            else NoCopies()
        )

    # ---- Compose plumbing -------------------------------------------------

    def _files(self) -> list[Path]:
        files = list(self.compose_files)
        if self.override is not None and self.override.exists():
            files.append(self.override)
        return files

    def _compose_args(self, files: Sequence[Path] | None = None) -> list[str]:
        """`docker compose` with the project's files (or `files`) and its name."""
        args = ["compose"]
        for path in self._files() if files is None else files:
            args += ["-f", str(path)]
        if self.project:
            args += ["-p", self.project]
        return args

    def _labels(self, service: str | None = None) -> list[str]:
        return inspect.project_labels(self.project, service)

    def _whales(
        self,
        what: str,
        call: Callable[[DockerClient], Any],
        extra_files: Sequence[Path] = (),
        profiles: Sequence[str] = (),
    ) -> Any:
        """Run a python-on-whales call on the project's files (and `extra_files`, with
        `profiles` active besides the environment's); turn its exception into a one-line
        error."""
        from python_on_whales import DockerClient
        from python_on_whales.exceptions import DockerException

        client = DockerClient(
            compose_files=[str(p) for p in [*self._files(), *extra_files]],
            compose_project_name=self.project or None,
            compose_profiles=list(profiles),
        )
        try:
            return call(client)
        except DockerException as exc:
            stderr = (exc.stderr or "") + (exc.stdout or "")
            error = failure(["compose", what], stderr)
            if isinstance(error, EngineUnavailable):
                raise error from None
            raise OperationFailed(f"{what} failed: {last_line(stderr)}", RETRY_HINT) from None

    # ---- the port ---------------------------------------------------------

    def prepare_to_mutate(self) -> None:
        """Start the `compose version` probe that check() reads, while validation runs."""
        if self._compose_probe is None:
            self._compose_probe = start_docker(_COMPOSE_VERSION)

    def check(self) -> None:
        """Raise EngineUnavailable unless the engine and Compose v2 answer."""
        self.prepare_to_mutate()
        self._api_version = self.transport.check()
        probe, self._compose_probe = self._compose_probe, None
        version = finish(_COMPOSE_VERSION, probe or start_docker(_COMPOSE_VERSION), 10).strip()
        if not version.lstrip("v").startswith("2"):
            raise EngineUnavailable(
                f"Docker Compose {version} is too old; agentlab needs v2", hint=COMPOSE_HINT
            )

    def unsupported(self) -> list[str]:
        return features.unsupported(self.compose_config(), self._api_version)

    def services(self) -> dict[str, ServiceSpec]:
        return services_from_config(self.compose_config())

    def compose_config(self) -> dict[str, Any]:
        """`compose config` as JSON, cached beside the override while none of its inputs
        changed (files, .env, the variables they interpolate): saves ~0.1 s per status."""
        cache = self.override.parent / "compose-config.json" if self.override else None
        args = [*self._compose_args(), "config", "--format", "json"]
        config = cached_config(cache, self._config_key(), lambda: json.loads(run_docker(args)))
        if not self.project:
            self.project = str(config.get("name", ""))
        return config

    def own_images(self) -> dict[str, str]:
        """From `compose config` of the user's files alone (cached as the full one)."""
        cache = self.override.parent / "compose-config-own.json" if self.override else None
        args = [*self._compose_args(self.compose_files), "config", "--format", "json"]
        key = config_key(self.project, self.compose_files, self.compose_files)
        config = cached_config(cache, key, lambda: json.loads(run_docker(args)))
        return {name: s.image for name, s in services_from_config(config).items() if s.image}

    def stale_replicas(self, services: Sequence[str]) -> set[str]:
        """Compose's own answer (`up --dry-run`, ~0.1 s), not `config --hash`, which
        differs from the label for a service with an env_file (docker/compose#14001)."""
        if not services:
            return set()
        args = [*self._compose_args(), "up", "--dry-run", "-d", "--no-build", "--no-deps",
                "--pull", "never", *services]  # fmt: skip
        code, out, err = capture(args, 60)
        if code != 0:  # a Compose before --dry-run (2.20), or one that refuses: none seen
            return set()
        return set(_RECREATE.findall(out + err))  # Compose prints its progress on stderr

    def _config_key(self) -> list[Any]:
        return config_key(self.project, self._files(), self.compose_files)

    def _container_ids(self, service: str | None = None) -> list[str]:
        return self.transport.container_ids(self._labels(service))

    def replicas(self, service: str | None = None) -> list[Replica]:
        ids = self._container_ids(service)
        raw = self.transport.inspect_containers(ids) if ids else []
        found = [inspect.replica(item) for item in raw if inspect.is_service_container(item)]
        return sorted(found, key=lambda r: (r.service, r.number, r.name))

    def foreign_holders(self, names: Sequence[str]) -> dict[str, str]:
        held = self.transport.name_holders(names) if names else {}
        projects = {name: labels.get(inspect.PROJECT_LABEL, "") for name, labels in held.items()}
        return {name: project for name, project in projects.items() if project != self.project}

    def running_images(self) -> list[ContainerImage]:
        if not isinstance(self.transport, ApiTransport):  # the CLI: `docker ps` lacks ids
            return [ContainerImage.of(r) for r in self.replicas() if r.running]
        items = self.transport.containers(self._labels())
        moved = [
            str(i["Id"]) for i in items if i.get("State") == "running" and inspect.shows_image_id(i)
        ]
        created = {  # the tag each was created with: one inspect for each of those only
            str(doc.get("Id")): str((doc.get("Config") or {}).get("Image") or "")
            for doc in (self.transport.inspect_containers(moved) if moved else [])
        }
        found = (inspect.container_image(item, created.get(str(item["Id"]))) for item in items)
        return [image for image in found if image is not None]

    def images(self, repository: str) -> list[ImageInfo]:
        ids = set(self.transport.image_ids(repository))
        raw = self.transport.inspect_images(sorted(ids)) if ids else []
        found = []
        for item in raw:
            for repo_tag in item.get("RepoTags") or []:
                repo, _, tag = repo_tag.rpartition(":")
                if repo == repository:
                    found.append(inspect.image(item, repo, tag))
        return found

    def image(self, ref: str) -> ImageInfo | None:
        try:
            raw = self.transport.inspect_images([ref])
        except OperationFailed:
            return None
        if not raw:
            return None
        info = inspect.image(raw[0], *split_image_ref(ref))
        self._digests[info.id] = info.digest  # a status after `up` needs no image inspect
        return info

    def digests(self, image_ids: Sequence[str]) -> dict[str, str | None]:
        """Repo digests by image id; an id's digest is read once per engine (ids are content
        hashes, so a long-lived TUI does not re-inspect its images on every refresh)."""
        unknown = sorted(set(image_ids) - set(self._digests))
        if unknown:
            raw = self.transport.inspect_images(unknown)
            self._digests.update({item["Id"]: inspect.image(item, "", "").digest for item in raw})
        return {image_id: self._digests.get(image_id) for image_id in image_ids}

    def published_port(self, service: str, port: int) -> int | None:
        try:
            out = run_docker([*self._compose_args(), "port", service, str(port)], timeout=10)
        except OperationFailed:
            return None
        text = out.strip().rsplit(":", 1)[-1]
        return int(text) if text.isdigit() and text != "0" else None

    def up(
        self,
        services: Sequence[str] | None = None,
        scales: Mapping[str, int] | None = None,
        recreate: bool = True,
        deps: bool = True,
        start: bool = True,
    ) -> None:
        """`compose up --detach` (`--no-start` without `start`), run as the CLI itself: a
        rollout's first step is this one command line, and python-on-whales' import (~0.3 s
        of CPU, on a thread beside the step's engine reads) delayed it by ~0.4 s on a busy
        machine. Compose neither pulls nor builds: agentlab has built what is missing."""
        if services is not None and not services:
            return
        start_or_not = "--detach" if start else "--no-start"
        args = [*self._compose_args(), "up", start_or_not, "--pull", "never", "--no-build"]
        for service, count in (scales or {}).items():
            args += ["--scale", f"{service}={count}"]
        if not recreate:
            args.append("--no-recreate")
        if not deps:
            args.append("--no-deps")
        args += services or []
        finish(args, start_docker(args), None, what="compose up")

    def add_replicas(self, service: str, count: int, named: bool = True) -> list[str]:
        """Copies of a replica Compose made for the same configuration (engine/copies.py),
        else `compose up --scale`, whose first new replica then serves as that model. Not
        `named`: copies are made without the service's names, and Compose's replicas are
        created stopped, taken out of the names, then started (by Compose again for a
        service with configs or secrets: it writes them into a container as it starts it)."""
        config = self.compose_config()
        names = service_names(config, service)
        drop = {name for aliases in names.values() for name in aliases} if not named else ()
        added = self._copies.copy(service, count, self._config_key(), drop)
        if len(added) == count:
            return added
        entry = config.get("services", {}).get(service)
        # Compose writes a service's configs and secrets into a container as it starts it
        # (a `content:` config was missing from replicas the engine started): it starts them
        injected = isinstance(entry, dict) and bool(entry.get("configs") or entry.get("secrets"))
        if not named and injected:
            self._refuse_stopped(service)  # before anything: Compose would start them too
        with self._removals.none():  # Compose counts the containers: none may go meanwhile
            before = set(self._container_ids(service))  # the copies made above included
            scale = len(before) + count - len(added)
            self.up([service], scales={service: scale}, recreate=False, deps=False, start=named)
            new = [cid for cid in self._container_ids(service) if cid not in before]
            if not named and injected:
                for container_id in new:
                    self._names.leave(container_id, names)
                self.up([service], scales={service: scale}, recreate=False, deps=False)
        if not named and not injected:
            for container_id in new:
                self._names.leave(container_id, names)
                self.transport.start(container_id)
        if isinstance(entry, dict):
            self._copies.remember(service, new, entry, self._config_key())
        return added + new

    def _refuse_stopped(self, service: str) -> None:
        """OperationFailed when the service has stopped containers (a failed replica, one a
        drill killed): `compose up` starting new ones would start those too, and one may
        still answer the service's name."""
        stopped = [r.name for r in self.replicas(service) if not r.running]
        if stopped:
            raise OperationFailed(
                f"Compose, starting it (for its configs and secrets), would start the stopped "
                f"{', '.join(stopped)} too",
                hint=f"docker rm {' '.join(stopped)}",
            )

    def copyable(self, service: str) -> bool:
        entry = self.compose_config().get("services", {}).get(service)
        return isinstance(self._copies, ReplicaCopies) and bool(entry) and clonable(entry)

    def copier(self, service: str, replica_id: str) -> ReplicaCopier:
        copy = self._copies.copier(service, replica_id)

        def start(count: int, named: bool) -> list[str]:
            config = self.compose_config()
            if not self.copyable(service):
                raise OperationFailed(
                    f"{service}'s replicas cannot be copied as Compose makes them (e.g. its "
                    "container_name, configs or secrets)",
                    hint=REVERT_HINT,
                )
            names = service_names(config, service)
            drop = {name for aliases in names.values() for name in aliases} if not named else ()
            return copy(count, drop)

        return start

    def join_name(self, container_id: str, service: str) -> NameChange:
        return self._names.join(container_id, service_names(self.compose_config(), service))

    def leave_name(self, container_id: str, service: str) -> NameChange:
        return self._names.leave(container_id, service_names(self.compose_config(), service))

    def probe(self, container_id: str, check: Healthcheck) -> bool:
        return self.transport.probe(container_id, check.command, check.timeout)

    def stop_replica(self, container_id: str, timeout: float) -> None:
        with self._removals.one():
            self.transport.stop(container_id, timeout)

    def remove_replica(self, container_id: str) -> None:
        with self._removals.one():
            self.transport.remove(container_id)

    def kill_replica(self, container_id: str) -> None:
        self.transport.kill(container_id)

    def logs_tail(self, container_id: str, lines: int = 20) -> str:
        try:
            text = self.transport.logs(container_id, lines)
        except OperationFailed as exc:
            return f"(logs unavailable: {exc.message})"
        return "(logs unavailable: no such container)" if text is None else text

    def build_image(
        self,
        context: str,
        tag: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        dockerfile: str | None = None,
    ) -> None:
        compose_builds.build_image(self._whales, context, tag, build_args, labels, dockerfile)

    def build_service(
        self,
        service: str,
        tag: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        progress: ProgressSink,
    ) -> None:
        directory = self.override.parent if self.override else self.compose_files[0].parent
        compose_builds.build_service(
            self._compose_args(), directory, service, tag, build_args, labels, progress
        )

    def remove_image_if_unused(self, image_id: str) -> bool:
        try:
            found = self.transport.inspect_images([image_id])
            if not found or found[0].get("RepoTags"):
                return False
            self.transport.remove_image(image_id)
        except OperationFailed:
            return False  # a container (even a stopped one) still uses it
        return True

    def down(self, volumes: bool = False) -> None:
        """Every container of the project goes, those of inactive profiles too (one started
        while its profile was active kept running, and the network with it); if a profile's
        service does not load (an env_file missing), the active ones only."""

        def down(client: DockerClient) -> None:
            client.compose.down(volumes=volumes, remove_orphans=True, quiet=True)

        try:
            self._whales("compose down", down, profiles=["*"])
        except OperationFailed:
            self._whales("compose down", down)

    def events(self) -> DockerEventStream:
        return project_events(self.project)

    def changes(self) -> EventWakeup:
        # --since now: events between starting `docker events` and its subscribing count too
        return EventWakeup(project_events(self.project, since=time.time()))
