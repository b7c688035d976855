"""An environment that requires a locked digest (`policy: {require_lock: true}`; the
default prod of a project with a registry) runs only images whose digest agentlab.lock
records: `up`, `up --set`/`--version`, `rollout` and `promote` into it are accepted only
for a service and version some section of the lock lists with a digest (its own section
first, then the others: what staging locked can go to prod), and then run that digest
(`repo:tag@sha256:…`), never the tag. Checked before anything is touched; rollbacks are
never refused. Locked images missing here are fetched from the registry they name, once
every check passed, under the project lock (never by a `--dry-run` or a check)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agentlab.common.errors import BadInput
from agentlab.common.events import ProgressSink
from agentlab.common.imagerefs import short_id, split_image_ref
from agentlab.engine import registry as api
from agentlab.lab.model import ProjectModel
from agentlab.state.lockfile import LockedService, LockFile, lockfile_path, read_lockfile
from agentlab.versions import NoMatchingVersion, VersionPolicy, image_tag, resolve, sort_tags

# A service `up` keeps at the tag it runs (a `postgres:16-alpine`, say) is not asked for:
# the project's policy on tags one may ask for does not refuse it; the lock must list it.
KEPT = VersionPolicy(allow_latest=True, allow_non_semver=True)


@dataclass(frozen=True)
class LockedChoice:
    """The locked image a service's version resolves to, and the lock section listing it."""

    service: str
    section: str
    entry: LockedService

    @property
    def tag(self) -> str:
        return image_tag(self.entry.version)

    @property
    def pin(self) -> str:
        return pin_ref(self.entry)


def pin_ref(entry: LockedService) -> str:
    """The reference a locked service is pinned by: `repository:tag@digest` (the digest
    decides; the tag keeps the version readable wherever a tag is shown)."""
    return f"{entry.repository}:{image_tag(entry.version)}@{entry.digest}"


def required(model: ProjectModel) -> bool:
    """Whether the lab's environment runs only locked digests."""
    environment = model.project.environment_settings
    return environment is not None and environment.policy.require_lock


def choose(
    model: ProjectModel, service: str, spec: str, policy: VersionPolicy | None = None
) -> LockedChoice:
    """The locked image `service` at `spec` (a version or range) runs in this environment:
    the highest locked version matching it (tags `policy` allows, by default the
    project's). BadInput (with what to do) when the lock lists none, or lists the version
    with two digests in other environments' sections."""
    lock = _lock(model, service, spec)
    found = _locked_versions(model, lock, service)
    try:
        tag = resolve(spec, found, policy or model.project.settings.policy)
    except NoMatchingVersion:
        listed = f"{service} at {', '.join(sort_tags(found))}" if found else f"no {service}"
        raise _refusal(model, service, spec, f"it lists {listed}") from None
    except BadInput as refused:  # the project's policy: say which service
        raise BadInput(f"{service} {spec}: {refused.message}", hint=refused.hint) from None
    choices = found[tag]
    digests = {choice.entry.digest for choice in choices}
    if choices[0].section != _own(model) and len(digests) > 1:
        both = ", ".join(f"{c.section} {short_id(c.entry.digest)}" for c in choices)
        raise BadInput(
            f"agentlab.lock lists {service} {tag} with {len(digests)} digests ({both})",
            hint=f"lock {service} {tag} in {_own(model)} itself, or lock the others again",
        )
    return choices[0]


def unlocked_reason(model: ProjectModel, service: str) -> Callable[[str], str | None]:
    """For `versions` (and the TUI's picker): why this environment refuses a version tag
    of `service` the lock does not list (None: it accepts it, or locks nothing)."""
    if not required(model):
        return lambda _tag: None
    try:
        lock = read_lockfile(lockfile_path(model.project.directory)) or LockFile()
    except BadInput:  # a view: `drift`, `up` and `rollout` say what is wrong with it
        lock = LockFile()
    locked = _locked_versions(model, lock, service)
    reason = f"{_own(model)} runs only locked digests: not in agentlab.lock"
    return lambda tag: None if tag in locked else reason


def check_digest(model: ProjectModel, service: str, version: str, digest: str | None) -> None:
    """BadInput unless some section of the lock lists `service` at exactly `digest` (the
    image `promote` copies into this environment)."""
    if not required(model):
        return
    if digest is None:
        raise _refusal(model, service, version, "the image has no digest (never pushed)")
    if digest not in _digests(_lock(model, service, version), service):
        raise _refusal(model, service, version, f"it does not list its digest {short_id(digest)}")


def rest(model: ProjectModel, requested: set[str]) -> list[LockedChoice]:
    """For `up`: the locked image of every managed service not in `requested`, at the
    version it runs now (its pin, else the compose file's image); none for one already
    pinned to a digest the lock lists."""
    chosen = []
    for name in model.managed:
        image = model.current_image(name)
        if name in requested or image is None:
            continue
        tag = split_image_ref(image)[1]
        digest = image.partition("@")[2]
        if digest and digest in _digests(_lock(model, name, tag), name):
            continue
        chosen.append(choose(model, name, tag, KEPT))
    return chosen


def to_fetch(model: ProjectModel, entry: LockedService, name: str) -> LockedService | None:
    """Validation only: the locked image when it is not here and its registry has it (to
    fetch once every check passed, under the project lock), None when it is here;
    BadInput when it is nowhere. Nothing is pulled."""
    if model.image(pin_ref(entry)) is not None:
        return None
    check_fetchable(name, entry)
    return entry


def fetch(model: ProjectModel, wanted: Mapping[str, LockedService], progress: ProgressSink) -> None:
    """Pull the locked images (per service) that are still not here from the registry each
    names; the caller holds the project lock and has validated everything (`to_fetch`)."""
    for name, entry in wanted.items():
        if model.image(pin_ref(entry)) is not None:
            continue
        progress(f"fetching {name} {entry.version} ({entry.image})")
        api.pull(entry.image)
        model.forget_image(pin_ref(entry))


def check_fetchable(name: str, entry: LockedService) -> None:
    """BadInput unless the registry the locked image names has its digest (a loopback
    registry is asked; exit 3 when it does not answer)."""
    host, _, repository = entry.repository.partition("/")
    hint = (
        f"build it: agentlab images build --service {name} --version {entry.version}, "
        f"or fetch it: agentlab images pull {name} {entry.version}"
    )
    if not host.startswith(("127.", "localhost")):
        raise BadInput(f"{name}'s locked image {entry.image} is not here",
                       hint=f"docker pull {entry.image}, or {hint}")  # fmt: skip
    if api.manifest_digest(host, repository, entry.digest) is None:
        raise BadInput(
            f"{name}'s locked digest {entry.digest[:19]} is neither here nor in the registry "
            f"at {host}",
            hint=hint,
        )


def _own(model: ProjectModel) -> str:
    return model.project.environment_name


def _lock(model: ProjectModel, service: str, version: str) -> LockFile:
    """The lock file; BadInput about running `service` at `version` when there is none."""
    path = lockfile_path(model.project.directory)
    found = read_lockfile(path)
    if found is None:
        raise _refusal(model, service, version, f"there is no {path.name}")
    return found


def _digests(lock: LockFile, service: str) -> set[str]:
    """Every digest some section of the lock lists for `service`."""
    return {section[service].digest for section in lock.environments.values() if service in section}


def _locked_versions(
    model: ProjectModel, lock: LockFile, service: str
) -> dict[str, list[LockedChoice]]:
    """Per version tag, the sections listing `service` at it: this environment's first."""
    own = _own(model)
    order = sorted(lock.environments, key=lambda section: (section != own, section))
    found: dict[str, list[LockedChoice]] = {}
    for section in order:
        entry = lock.environments[section].get(service)
        if entry is not None:
            found.setdefault(image_tag(entry.version), []).append(
                LockedChoice(service, section, entry)
            )
    return found


def _refusal(model: ProjectModel, service: str, version: str, why: str) -> BadInput:
    """`prod runs only locked digests`, with the way to lock one: in the environment
    before this one that does not require a lock (staging for prod)."""
    own = _own(model)
    environments = model.project.settings.environments
    names = list(environments)
    before = names[: names.index(own)] if own in names else names
    free = [n for n in reversed(before) if not environments[n].policy.require_lock]
    where = free[0] if free else "default"
    run = "agentlab" if where == "default" else f"agentlab -e {where}"
    push = f"{run} images push, " if model.project.settings.registry else ""
    return BadInput(
        f"{service} {version}: {own} runs only digests agentlab.lock records (policy "
        f"require_lock), and {why}",
        hint=f"lock it in {where}: {run} up --set {service}={version}, {push}{run} lock; "
        "then run it here again",
    )
