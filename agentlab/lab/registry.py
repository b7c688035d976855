"""The lab's registry (agentlab.yaml `registry:`): a service of the project in agentlab's
override, published on 127.0.0.1, its storage a named volume (kept by `down` unless
--volumes). Builds push to it; `images push` / `images pull` move images built elsewhere;
locked digests are fetched from it."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from agentlab.common.errors import BadInput
from agentlab.common.events import ProgressSink
from agentlab.common.imagerefs import split_image_ref
from agentlab.engine import registry as api
from agentlab.lab import environment_ports
from agentlab.lab.model import ProjectModel
from agentlab.project.registry_settings import RegistrySettings
from agentlab.state.history_records import Revision
from agentlab.state.lock import project_lock
from agentlab.state.override import REGISTRY_SERVICE, registry_port, registry_service, set_registry
from agentlab.versions import image_tag

STORAGE = "/var/lib/registry"  # where registry:2 (and the offline image) keep their data
ROLE_LABEL = "io.agentlab.role"
READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class RegistryState:
    """Where the lab's registry is and whether it answers (the TUI's header shows it)."""

    address: str | None  # None: no port chosen yet (it never ran)
    answers: bool
    status: int | None = None  # the HTTP status of an error answer (401, 500...)

    def line(self) -> str:
        if self.address is None:
            return "registry not started yet"
        if self.answers:
            return f"registry {self.address} answers"
        if self.status is not None:
            return f"registry {self.address} answered HTTP {self.status}"
        return f"registry {self.address} does not answer"


def settings(model: ProjectModel) -> RegistrySettings | None:
    return model.project.settings.registry


def required(model: ProjectModel) -> RegistrySettings:
    """The registry's settings, or BadInput saying how to turn it on."""
    found = settings(model)
    if found is None:
        raise absent()
    return found


def absent(why: str = "") -> BadInput:
    """The error of a command that needs the registry the lab does not have."""
    hint = "add `registry: {port: 5000}` to agentlab.yaml (see README: Registry)"
    return BadInput(f"this lab has no registry{why}", hint=hint)


def address(model: ProjectModel) -> str | None:
    """host:port of the registry, once it has a port (None: none configured yet)."""
    found = settings(model)
    if found is None:
        return None
    port = registry_port(model.override_path) or _fixed_port(model, found)
    return f"127.0.0.1:{port}" if port else None


def _fixed_port(model: ProjectModel, found: RegistrySettings) -> int | None:
    """The host port agentlab.yaml fixes, if any; none in an environment whose ports are
    ephemeral (environments side by side would ask for the same one)."""
    return None if environment_ports.ephemeral(model) else found.host_port


def state(model: ProjectModel) -> RegistryState | None:
    """The registry's address and whether it answers now (one GET of `/v2/`); None when
    the lab has no registry."""
    if settings(model) is None:
        return None
    where = address(model)
    found = api.status(where, timeout=1.0) if where is not None else None
    return RegistryState(where, found == 200, found if found not in (None, 200) else None)


def configure(model: ProjectModel) -> str:
    """Put the registry service in the override (the caller holds the project lock); its
    address. A port once chosen is kept, so image references stay the same."""
    wanted = required(model)
    port, fixed = registry_port(model.override_path), _fixed_port(model, wanted)
    if port is None or (fixed and port != fixed):
        port = fixed or _free_port()
    service = {
        "image": wanted.image_ref,
        "pull_policy": "never",
        "ports": [f"127.0.0.1:{port}:5000"],
        "network_mode": "bridge",  # reached from the host only: no project network for it
        "volumes": [f"{wanted.volume}:{STORAGE}"],
        "labels": {ROLE_LABEL: "registry"},
        "restart": "unless-stopped",  # back after an engine restart; stopped by hand: down
    }
    if registry_service(model.override_path) != service:
        set_registry(model.override_path, service, wanted.volume)
        model.reload()
    return f"127.0.0.1:{port}"


def ready(model: ProjectModel, progress: ProgressSink) -> str:
    """The address of a registry that answers (the caller holds the project lock). One
    never started is started; a stopped or broken one is EngineUnavailable (exit 3), one
    that answers an error (401, 500...) is OperationFailed (exit 1) saying so."""
    where = configure(model)
    found = api.status(where)
    if found == 200:
        return where
    if found is not None:
        raise api.answer_error(where, found)
    containers = model.engine.replicas(REGISTRY_SERVICE)
    if containers and not any(c.running for c in containers):
        raise api.down_error(where)
    if not containers:
        progress(f"starting the registry on {where}")
        model.engine.up([REGISTRY_SERVICE], recreate=False, deps=False)
    deadline = time.monotonic() + READY_TIMEOUT
    while (found := api.status(where)) != 200:
        if found is not None:
            raise api.answer_error(where, found)
        if time.monotonic() >= deadline:
            raise api.down_error(where)
        time.sleep(0.1)
    return where


def remote_repository(where: str, local_ref: str) -> str:
    return f"{where}/{split_image_ref(local_ref)[0]}"


def registry_digest(model: ProjectModel, where: str, local_ref: str) -> str | None:
    """The digest the local image `repo:tag` has in the registry at `where` (None: not
    pushed there, or pushed before it was rebuilt)."""
    info = model.image(local_ref)
    remote = remote_repository(where, local_ref)
    for ref in info.repo_digests if info else ():
        repository, _, digest = ref.partition("@")
        if repository == remote:
            return digest
    return None


def publish(model: ProjectModel, where: str, local_ref: str, progress: ProgressSink) -> str:
    """Push a local `repo:tag` to the registry as `<where>/repo:tag`, unless the registry
    already has this very image under that tag; its digest."""
    repository, tag = split_image_ref(local_ref)
    mine = registry_digest(model, where, local_ref)
    if mine is not None and api.manifest_digest(where, repository, tag) == mine:
        return mine
    remote = f"{remote_repository(where, local_ref)}:{tag}"
    api.tag(local_ref, remote)
    digest = api.push(remote)
    model.forget_image(local_ref)
    progress(f"pushed {remote} ({digest})")
    return digest


def fetch(model: ProjectModel, where: str, local_ref: str, digest: str | None = None) -> None:
    """Pull `<where>/repo:tag` (at `digest` when given) and tag it `repo:tag` here."""
    repository, tag = split_image_ref(local_ref)
    remote = f"{where}/{repository}"
    api.pull(f"{remote}@{digest}" if digest else f"{remote}:{tag}")
    api.tag(f"{remote}@{digest}" if digest else f"{remote}:{tag}", local_ref)
    model.forget_image(local_ref)


def revision_image(model: ProjectModel, revision: Revision) -> str:
    """The image a revision ran: its reference, or, when its tag has moved to another
    build since, the digest it ran in the lab's registry (`repo:tag@digest`)."""
    image, digest = revision.image_ref, revision.digest
    if digest is None or "@" in image:
        return image
    info = model.image(image)
    where = address(model)
    if (info is not None and info.id == revision.image_id) or where is None:
        return image
    return f"{remote_repository(where, image)}:{split_image_ref(image)[1]}@{digest}"


def push_images(
    model: ProjectModel, service: str | None, version: str | None, progress: ProgressSink
) -> list[tuple[str, str]]:
    """`images push`: the local tags of the managed services (or of one, or one version)
    pushed where the registry lacks them; (tag, digest) pairs."""
    required(model)
    names = [model.service(service).name] if service else model.managed
    refs = [info.ref for name in names for info in model.local_tags(name)
            if version is None or info.tag in (version, image_tag(version))]  # fmt: skip
    if not refs:
        raise BadInput("no local image to push" + (f" at version {version}" if version else ""),
                       hint="agentlab images list shows what is here")  # fmt: skip
    with project_lock(model.state_dir, "images push"):
        where = ready(model, progress)
        return [(ref, publish(model, where, ref, progress)) for ref in refs]


def pull_image(model: ProjectModel, service: str, version: str, progress: ProgressSink) -> str:
    """`images pull`: fetch `service` at `version` from the registry and tag it here as
    the service's image; its digest. BadInput when the registry does not have it."""
    required(model)
    local = f"{model.repository(service)}:{image_tag(version)}"
    with project_lock(model.state_dir, "images pull"):
        where = ready(model, progress)
        repository, tag = split_image_ref(local)
        digest = api.manifest_digest(where, repository, tag)
        if digest is None:
            raise BadInput(f"the registry at {where} has no {repository}:{tag}",
                           hint="agentlab images push it from where it was built")  # fmt: skip
        fetch(model, where, local, digest)
    progress(f"pulled {where}/{local} ({digest})")
    return digest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
