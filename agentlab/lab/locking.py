"""`agentlab lock` and `agentlab up --locked`: what each managed service runs, by digest,
written to `agentlab.lock` (state/lockfile.py) and run again exactly, fetching from the
registry what is not here, and refusing before any change what is nowhere."""

from __future__ import annotations

from pathlib import Path

from agentlab.common.errors import BadInput
from agentlab.common.events import ProgressSink
from agentlab.common.imagerefs import split_image_ref
from agentlab.engine.model import VERSION_LABEL, ImageInfo
from agentlab.lab import lock_policy, registry
from agentlab.lab.catalogue import Resolved
from agentlab.lab.lock_policy import pin_ref
from agentlab.lab.model import ProjectModel
from agentlab.project.environments import DEFAULT_ENVIRONMENT
from agentlab.state.lock import project_lock
from agentlab.state.lockfile import (
    LockedService,
    LockFile,
    lockfile_path,
    read_lockfile,
    write_lockfile,
)
from agentlab.versions import image_tag

LOCKED_LABELS = ("org.opencontainers.image.", "io.agentlab.")


def environment(model: ProjectModel) -> str:
    """The lock section of the lab's environment ("default" when no -e/--env is given)."""
    return getattr(model.project, "environment", None) or DEFAULT_ENVIRONMENT


def command(model: ProjectModel) -> str:
    """`agentlab`, with `-e ENV` in an environment: how hints name a command."""
    name = environment(model)
    return "agentlab" if name == DEFAULT_ENVIRONMENT else f"agentlab -e {name}"


def path(model: ProjectModel) -> Path:
    return lockfile_path(model.project.directory)


def digest_ref(model: ProjectModel, image: str, info: ImageInfo) -> str | None:
    """`repository@digest` of a local image: the pin's own digest, else the lab registry's,
    else any registry's the image came from (None: it was never pushed or pulled)."""
    if "@" in image:
        return f"{split_image_ref(image)[0]}@{image.partition('@')[2]}"
    where = registry.address(model)
    digest = registry.registry_digest(model, where, image) if where else None
    if digest is not None:
        return f"{registry.remote_repository(where or '', image)}@{digest}"
    return info.repo_digests[0] if info.repo_digests and where is None else None


def write_lock(model: ProjectModel) -> tuple[Path, dict[str, LockedService]]:
    """Lock what each managed service is pinned to now (this environment's section; the
    others are kept). BadInput, before writing, for an image without a registry digest
    (first saying so when the lab has no registry to push it to)."""
    services, run = {}, command(model)
    for name in sorted(model.managed):
        image = model.current_image(name)
        info = model.image(image) if image else None
        if image is None or info is None:
            raise BadInput(f"{name}'s image {image} is not here",
                           hint=f"{run} images build, then {run} lock")  # fmt: skip
        ref = digest_ref(model, image, info)
        tag = split_image_ref(image)[1]
        if ref is None and registry.settings(model) is None:
            raise registry.absent(f": lock takes digests from one ({name} {tag} has none)")
        if ref is None:
            raise BadInput(
                f"{name} {tag} has no digest in the registry yet",
                hint=f"{run} images push --service {name}, then {run} lock",
            )
        labels = {k: v for k, v in info.labels.items() if k.startswith(LOCKED_LABELS)}
        version = info.labels.get(VERSION_LABEL) or tag
        services[name] = LockedService(version, ref, ref.partition("@")[2], labels)
    where = path(model)
    lock = read_lockfile(where) or LockFile()
    write_lockfile(where, lock.with_section(environment(model), services))
    return where, services


def locked_targets(
    model: ProjectModel, progress: ProgressSink, start: bool = True
) -> list[Resolved]:
    """What `up --locked` pins: each locked digest, those not here to fetch from their
    registry once every check of `up` passed (under its project lock; nothing is pulled
    here). Refuses before any change: BadInput (exit 2) for a digest that is nowhere,
    EngineUnavailable (exit 3) when the registry that has to be asked does not answer
    (the lab's own is started first when it never was, unless `start` is False: a dry
    run)."""
    found = read_lockfile(path(model))
    if found is None:
        raise BadInput(f"there is no {path(model)}", hint=f"write it: {command(model)} lock")
    section = found.section(environment(model))
    if not section:
        other = (
            f"; {command(model)} up runs what another environment locked"
            if (lock_policy.required(model) and found.environments)
            else ""
        )
        raise BadInput(f"{path(model)} has no section '{environment(model)}'",
                       hint=f"write it: {command(model)} lock{other}")  # fmt: skip
    for name in section:
        model.service(name)
    missing = {n: e for n, e in section.items() if model.image(pin_ref(e)) is None}
    own = registry.address(model)
    if start and own and any(e.repository.startswith(f"{own}/") for e in missing.values()):
        with project_lock(model.state_dir, "up --locked"):
            registry.ready(model, progress)  # started when it never was (e.g. after down)
    return [
        Resolved(name, image_tag(entry.version), pin_ref(entry),
                 fetch=lock_policy.to_fetch(model, entry, name) if name in missing else None)
        for name, entry in sorted(section.items())
    ]  # fmt: skip
