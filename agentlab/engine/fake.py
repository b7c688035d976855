"""An in-memory Engine for tests: deterministic, instant, and it records every call.

Time is a `FakeClock` the code under test sleeps on (sleeping just advances it).
Container life is step-based: every `replicas()` call is one poll, and each image
carries `Behaviour`s saying after how many polls its containers turn healthy, exit,
restart or turn unhealthy. Like Compose, it reads agentlab's override file (when it is
given one) for the image and replica count new containers get; like Docker, it serves
calls from several threads one at a time, and `events()` blocks for the next event.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from agentlab.common.errors import EngineUnavailable, OperationFailed
from agentlab.common.events import ProgressSink
from agentlab.engine.fake_containers import (
    Behaviour,
    FakeClock,
    FakeContainer,
    Observation,
    Observations,
)
from agentlab.engine.fake_images import FakeImages
from agentlab.engine.fake_override import read_override
from agentlab.engine.fake_streams import EventHub, FakeChanges, QueueStream
from agentlab.engine.model import (
    VERSION_LABEL,
    BuildSection,
    ContainerImage,
    EngineEvent,
    Healthcheck,
    ImageInfo,
    NameChange,
    PublishedPort,
    Replica,
    ServiceSpec,
)
from agentlab.engine.protocol import ReplicaCopier

_SETTLED = 1000  # polls an initial container is aged by: long past any start-up


E = TypeVar("E", bound="FakeEngine")
P = ParamSpec("P")
R = TypeVar("R")


def _serialised(method: Callable[Concatenate[E, P], R]) -> Callable[Concatenate[E, P], R]:
    """One call at a time, as the engine serves several threads (the TUI's workers)."""

    @functools.wraps(method)
    def call(engine: E, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with engine.lock:
            return method(engine, *args, **kwargs)

    return call


@dataclass
class FakeEngine:
    """The Engine protocol in memory. Build state with add_image/add_service/start."""

    project: str = "lab"
    clock: FakeClock = field(default_factory=FakeClock)
    unavailable: bool = False
    nap: float = 0.25  # real seconds a change-feed wait may take (see FakeChanges)
    override: Path | None = None  # agentlab's override, read as Compose would
    replay: bool = False  # events() delivers the recorded events first (`--since` the start)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    observations: Observations = field(default_factory=Observations)
    hub: EventHub = field(default_factory=EventHub)
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    pins: dict[str, str] = field(default_factory=dict)
    files_images: dict[str, str] = field(default_factory=dict)  # as add_service gave them
    scales: dict[str, int] = field(default_factory=dict)
    builds: dict[str, BuildSection] = field(default_factory=dict)  # services with build:
    host_ports: dict[str, tuple[PublishedPort, ...]] = field(default_factory=dict)
    spec_fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # more ServiceSpec
    ports: dict[tuple[str, int], int] = field(default_factory=dict)
    foreign: dict[str, str] = field(default_factory=dict)  # other projects' containers
    configs: dict[str, str] = field(default_factory=dict)  # config hash, if edited ("0")
    uncopyable: set[str] = field(default_factory=set)  # services `copier` cannot copy
    refused: dict[str, str] = field(default_factory=dict)  # service: the engine's refusal
    unsupported_lines: list[str] = field(default_factory=list)  # what `unsupported` says
    lock: threading.RLock = field(default_factory=threading.RLock)
    image_store: FakeImages = field(default_factory=FakeImages)
    _serial: int = 0
    _attached: str | None = None

    # ---- test set-up ------------------------------------------------------

    def attach(self, _project: object, name: str, override: Path) -> FakeEngine:
        """An engine factory for a Lab: this fake, on the lab's project name and override.
        Once attached, another project name (another environment's, read by drift) gets an
        empty fake of its own on the same images, as another project on one engine."""
        if self._attached not in (None, name):
            return FakeEngine(name, nap=self.nap, override=override, image_store=self.image_store)
        self.project, self.override, self._attached = name, override, name
        return self

    def add_image(
        self,
        ref: str,
        *behaviours: Behaviour,
        version: str | None = None,
        digest: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> ImageInfo:
        """Register a local image; its n-th container acts as behaviours[n] (last repeats)."""
        return self.image_store.add(ref, behaviours, version, digest, labels)

    def add_service(self, service: str, image: str, replicas: int = 1) -> list[str]:
        """Pin a service to an image and start `replicas` settled containers of it."""
        self.pin(service, image)
        self.files_images[service] = image
        self.scales[service] = replicas
        return self.start(service, image, replicas)

    def start(self, service: str, image: str, count: int, settled: bool = True) -> list[str]:
        """Start containers at any image (e.g. a half-done rollout), without recording a call."""
        ids = [self._create(service, image) for _ in range(count)]
        if settled:
            for cid in ids:
                self.containers[cid].polls = _SETTLED - 1
                self.containers[cid].advance()
        self._observe(service)
        return ids

    def pin(self, service: str, image: str) -> None:
        """What the override rewrite does: the image new containers of `service` get."""
        self.pins[service] = image

    def of(self, service: str) -> list[FakeContainer]:
        return [c for c in self.containers.values() if c.service == service]

    def images_of(self, service: str) -> list[str]:
        """The image refs of a service's containers, in creation order."""
        return [c.image_ref for c in self.of(service)]

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [args for call, args in self.calls if call == name]

    # ---- the Engine protocol ----------------------------------------------

    def _record(self, call: tuple[str, tuple[Any, ...]]) -> None:
        """Log a protocol call; like a real engine that is down, every call then fails."""
        self.calls.append(call)
        if self.unavailable:
            raise EngineUnavailable("the fake engine is switched off", hint="unavailable=False")

    def _read_override(self) -> None:
        """What Compose does with agentlab's override: its images, replica counts and
        ports are what new containers get."""
        found = read_override(self.override)
        self.pins.update(found.images)
        self.scales.update(found.scales)
        self.host_ports.update(found.ports)

    @_serialised
    def check(self) -> None:
        self._record(("check", ()))

    def unsupported(self) -> list[str]:
        return list(self.unsupported_lines)

    @_serialised
    def prepare_to_mutate(self) -> None:
        self._record(("prepare_to_mutate", ()))

    @_serialised
    def services(self) -> dict[str, ServiceSpec]:
        self._record(("services", ()))
        self._read_override()
        return {
            name: ServiceSpec(
                name,
                image,
                self.builds.get(name),
                self.scales.get(name, 1),
                ports=self.host_ports.get(name, ()),
                **self.spec_fields.get(name, {}),
            )
            for name, image in self.pins.items()
        }

    @_serialised
    def own_images(self) -> dict[str, str]:
        self._record(("own_images", ()))
        return {name: self.files_images.get(name, image) for name, image in self.pins.items()}

    @_serialised
    def stale_replicas(self, services: Sequence[str]) -> set[str]:
        self._read_override()
        if any(service not in self.pins for service in services):
            return set()  # Compose refuses a dry run naming a service it does not know
        return {  # as Compose: another reference, configuration, or bytes (a rebuilt tag)
            c.name
            for c in self.containers.values()
            if c.service in services
            and (c.image_ref, c.config_hash, c.image.id)
            != (
                self.pins[c.service],
                self.configs.get(c.service, "0"),
                self.image_store[self.pins[c.service]].info.id,
            )
        }

    @_serialised
    def foreign_holders(self, names: Sequence[str]) -> dict[str, str]:
        return {name: self.foreign[name] for name in names if name in self.foreign}

    @_serialised
    def replicas(self, service: str | None = None) -> list[Replica]:
        self._record(("replicas", (service,)))
        chosen = [c for c in self.containers.values() if service in (None, c.service)]
        for container in chosen:
            container.advance()
        for name in sorted({c.service for c in chosen}):
            self._observe(name)
        return [self._replica(c) for c in chosen]

    @_serialised
    def running_images(self) -> list[ContainerImage]:
        self._record(("running_images", ()))
        running = [c for c in self.containers.values() if c.state == "running"]
        return [ContainerImage.of(self._replica(c)) for c in running]

    @_serialised
    def images(self, repository: str) -> list[ImageInfo]:
        self._record(("images", (repository,)))
        return self.image_store.of_repository(repository)

    @_serialised
    def image(self, ref: str) -> ImageInfo | None:
        self._record(("image", (ref,)))
        return self.image_store.find(ref)

    @_serialised
    def digests(self, image_ids: Sequence[str]) -> dict[str, str | None]:
        self._record(("digests", tuple(image_ids)))
        return self.image_store.digests(image_ids)

    @_serialised
    def published_port(self, service: str, port: int) -> int | None:
        self._record(("published_port", (service, port)))
        return self.ports.get((service, port))

    @_serialised
    def up(
        self,
        services: Sequence[str] | None = None,
        scales: Mapping[str, int] | None = None,
        recreate: bool = True,
        deps: bool = True,
    ) -> None:
        self._record(("up", (services, scales, recreate, deps)))
        self._read_override()
        for service in services or list(self.pins):
            image = self.pins[service]
            scale = (scales or {}).get(service, self.scales.get(service, 1))
            self.scales[service] = scale
            config = self.configs.get(service, "0")
            for container in self.of(service):  # as Compose: another image or config, or
                gone = container.joined is not None and container.joined not in self.containers
                if recreate and (
                    (container.image_ref, container.config_hash) != (image, config) or gone
                ):  # the container whose network it joined is gone
                    self._destroy(container.id)
            have = len(self.of(service))
            for container in self.of(service)[scale:]:
                self._destroy(container.id)
            for _ in range(scale - have):
                self._create(service, image)
            self._observe(service)

    @_serialised
    def add_replicas(self, service: str, count: int, named: bool = True) -> list[str]:
        self._record(("add_replicas", (service, count)))
        self._read_override()
        if service in self.refused:  # created, never started: as a port the engine lacks
            created = self.containers[self._create(service, self.pins[service])]
            created.state = "created"
            raise OperationFailed(f"docker engine: {self.refused[service]}", hint="engine log")
        return self._add(service, self.pins[service], None, count, named)

    def copyable(self, service: str) -> bool:
        return service not in self.uncopyable

    @_serialised
    def copier(self, service: str, replica_id: str) -> ReplicaCopier:
        model = self.containers[replica_id]
        image, config = model.image_ref, model.config_hash

        def start(count: int, named: bool) -> list[str]:
            with self.lock:
                self._record(("copy_replicas", (service, count)))
                return self._add(service, image, config, count, named)

        return start

    def _add(
        self, service: str, image: str, config: str | None, count: int, named: bool
    ) -> list[str]:
        """`count` new containers of `service` (of `config`; None: the service's now)."""
        ids = [self._create(service, image, config) for _ in range(count)]
        for cid in ids:
            self.containers[cid].named = named
        self._observe(service)
        return ids

    @_serialised
    def join_name(self, container_id: str, service: str) -> NameChange:
        self._record(("join_name", (container_id, service)))
        return self._rename(container_id, True)

    @_serialised
    def leave_name(self, container_id: str, service: str) -> NameChange:
        self._record(("leave_name", (container_id, service)))
        return self._rename(container_id, False)

    def _rename(self, container_id: str, named: bool) -> NameChange:
        container = self.containers[container_id]
        if container.named == named:
            return NameChange()
        container.named = named
        self._observe(container.service)
        return NameChange((f"{self.project}_default",))

    @_serialised
    def probe(self, container_id: str, check: Healthcheck) -> bool:
        self._record(("probe", (container_id,)))
        container = self.containers[container_id]
        container.probes += 1
        passes = container.behaviour.probe_passes_after
        return container.state == "running" and passes is not None and container.probes >= passes

    @_serialised
    def stop_replica(self, container_id: str, timeout: float) -> None:
        self._record(("stop_replica", (container_id, timeout)))
        container = self.containers[container_id]
        if container.state == "running":
            container.state, container.exit_code = "exited", 0
            self._event("die", container)
        self._observe(container.service)

    @_serialised
    def remove_replica(self, container_id: str) -> None:
        self._record(("remove_replica", (container_id,)))
        service = self.containers[container_id].service
        self._destroy(container_id)
        self._observe(service)

    @_serialised
    def kill_replica(self, container_id: str) -> None:
        self._record(("kill_replica", (container_id,)))
        container = self.containers[container_id]
        container.state, container.exit_code = "exited", 137
        self._event("die", container)

    @_serialised
    def logs_tail(self, container_id: str, lines: int = 20) -> str:
        self._record(("logs_tail", (container_id, lines)))
        logs = self.containers[container_id].behaviour.logs
        return "\n".join(logs.splitlines()[-lines:])

    @_serialised
    def build_image(
        self,
        context: str,
        tag: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        dockerfile: str | None = None,
    ) -> None:
        self._record(("build_image", (context, tag, dict(build_args), dict(labels))))
        self.add_image(tag, version=labels.get(VERSION_LABEL))

    @_serialised
    def build_service(
        self,
        service: str,
        tag: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        progress: ProgressSink,
    ) -> None:
        self._record(("build_service", (service, tag, dict(build_args), dict(labels))))
        progress(f"   #1 [builder 1/1] fake build of {tag}")
        self.add_image(tag, version=labels.get(VERSION_LABEL), labels=labels)

    @_serialised
    def remove_image_if_unused(self, image_id: str) -> bool:
        self._record(("remove_image_if_unused", (image_id,)))
        used = {self.image_store[c.image_ref].info.id for c in self.containers.values()}
        return image_id not in self.image_store.tagged_ids() | used

    @_serialised
    def down(self, volumes: bool = False) -> None:
        self._record(("down", (volumes,)))
        for cid in list(self.containers):
            self._destroy(cid)

    def events(self) -> QueueStream:
        """The events from now on (with `replay`, those recorded so far first), as they
        happen; blocks for the next one, like Docker's."""
        with self.lock:
            self._record(("events", ()))
            return self.hub.subscribe(self.replay)

    def send_event(self, event: EngineEvent) -> None:
        """Deliver an event to every open stream, as Docker would (a test's own event)."""
        with self.lock:
            self.hub.send(event)

    def stop_events(self) -> None:
        """End every event stream (what `docker events` does when the engine stops)."""
        with self.lock:
            self.hub.stop()

    @_serialised
    def changes(self) -> FakeChanges:
        self._record(("changes", ()))
        return FakeChanges(self.clock, self.nap)

    # ---- internals --------------------------------------------------------

    def _create(self, service: str, image: str, config: str | None = None) -> str:
        self._serial += 1
        number = 1 + max((c.number for c in self.of(service)), default=0)
        container = FakeContainer(
            id=f"{self._serial:012x}{'0' * 52}",
            name=f"{self.project}-{service}-{number}",
            service=service,
            number=number,
            image_ref=image,
            behaviour=self.image_store[image].next_behaviour(),
            started_at=self.clock.wall(),
            image=self.image_store[image].info,
            config_hash=self.configs.get(service, "0") if config is None else config,
        )
        parent = self.spec_fields.get(service, {}).get("network_parent")
        container.joined = next((c.id for c in self.of(parent)), None) if parent else None
        container.polls = -1
        container.advance()
        self.containers[container.id] = container
        self._event("start", container)
        return container.id

    def _destroy(self, container_id: str) -> None:
        container = self.containers.pop(container_id)
        self._event("destroy", container)

    def _replica(self, c: FakeContainer) -> Replica:
        return c.replica({p: host for (svc, p), host in self.ports.items() if svc == c.service})

    def _observe(self, service: str) -> None:
        mine = self.of(service)
        ready = sum(c.ready for c in mine)
        unready = sum(c.named and not c.ready for c in mine)
        named = sum(c.named for c in mine)
        self.observations.append(
            Observation(service, len(mine), ready, self.clock.time, unready, named, named - unready)
        )

    def _event(self, action: str, c: FakeContainer) -> None:
        self.send_event(EngineEvent(action, c.id, c.service, c.name, self.clock.wall()))
