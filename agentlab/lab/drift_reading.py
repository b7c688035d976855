"""The readings drift compares, and the report: one container list (this environment's,
and each other environment's), one image look-up per tag and locked digest, agentlab.lock's
section, and one HEAD per tag in the lab's registry (lab/drift_registry.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass

from agentlab.common.errors import AgentlabError, BadInput, EngineUnavailable
from agentlab.common.imagerefs import split_image_ref
from agentlab.engine.model import ContainerImage, ImageInfo, Replica
from agentlab.lab import locking, registry
from agentlab.lab.drift import (
    REPLICA_IMAGE,
    UNROUTED,
    Decision,
    Drift,
    DriftReport,
    Locked,
    RemoteTag,
    find_config_drift,
    find_drift,
)
from agentlab.lab.drift_environments import (
    find_environment_drift,
    other_environments,
    read_environments,
)
from agentlab.lab.drift_registry import TagKey, read_tags
from agentlab.lab.model import ProjectModel
from agentlab.lab.traffic_layer import TrafficLayer
from agentlab.state.history import History
from agentlab.state.lock import lock_held
from agentlab.state.lockfile import LockedService, read_lockfile
from agentlab.versions import image_tag


@dataclass(frozen=True)
class JournalMark:
    """The rollout journal just before the replicas are listed (see `read_drift`): the
    services with an unfinished rollout, and when the journal last changed."""

    busy: frozenset[str] = frozenset()
    touched: str = ""


def journal_mark(model: ProjectModel) -> JournalMark:
    """The journal now, to take before listing the replicas a drift reading compares."""
    history = model.read_history()
    if history is None:
        return JournalMark()
    return JournalMark(frozenset(e.service for e in history.unfinished()), history.last_touch())


def read_drift(
    model: ProjectModel,
    replicas: Sequence[Replica] | None = None,
    local_only: bool = False,
    mark: JournalMark | None = None,
) -> DriftReport:
    """The project's drift now (against `replicas` when just observed, listed after
    `journal_mark` gave `mark`). `local_only` (status, the TUI) leaves out the registry and
    the other environments. A service whose rollout ran at any time since the mark is
    busy: its replicas may have been listed mid-rollout (a replica its rollback was
    removing, the pin read after the rollback re-pinned)."""
    if replicas is None:
        mark = journal_mark(model)
        replicas = model.engine.replicas()
    history = model.read_history()
    busy = sorted(_busy(history, mark) if history else ())
    chosen = decisions(model, busy, strict=not local_only)
    images = {ref: model.engine.image(ref) for ref in _tag_refs(chosen)}
    tags = {ref: info.id if info else None for ref, info in images.items()}
    where = registry.address(model)
    remote: dict[str, RemoteTag] = {}
    unknown = None
    asked: list[str] = []
    if not local_only:
        wanted = _remote_keys(chosen, images, where)
        answers = read_tags([key for key, _ in wanted.values()])
        asked = sorted({key[0] for key, _ in wanted.values()})
        for service, (key, pushed) in wanted.items():
            if key in answers.digests:
                ref = f"{key[0]}/{key[1]}:{key[2]}"
                remote[service] = RemoteTag(ref, answers.digests[key], pushed)
        if answers.error is not None:
            hint = registry_hint(model, answers.error, asked)
            unknown = f"{answers.error.message}: its tags were not compared (hint: {hint})"
    cli = "agentlab" + (f" -e {model.project.environment}" if model.project.environment else "")
    drifts = find_drift(chosen, tags, replicas, remote, cli)
    checked = {d.service for d in chosen}
    if not local_only and any(r.service in checked for r in replicas):
        reported = {d.subject for d in drifts if d.kind == REPLICA_IMAGE}
        stale = model.engine.stale_replicas(sorted(checked))
        named = {d.service: tags.get(d.image_ref) for d in chosen}  # what each pin names now
        drifts += find_config_drift(stale, replicas, reported, named, cli)
    drifts += _unrouted(model, replicas, busy, cli)
    others = [] if local_only else read_environments(model)
    mine = [ContainerImage.of(r) for r in replicas if r.running]
    drifts += find_environment_drift(model.project.environment_name, checked, mine, others)
    running = [r.service for r in replicas if r.running and r.service in checked]
    return DriftReport(
        model.name,
        tuple(drifts),
        tuple(d.service for d in chosen),
        len(running),
        tuple(busy),
        ", ".join(asked) or None,
        tuple(run.environment for run in others),
        unknown,
        tuple(d.service for d in chosen if d.service not in running and _wanted(model, d.service)),
    )


def _wanted(model: ProjectModel, service: str) -> bool:
    """Whether replicas of `service` should run: not scaled to none, not a job (it exits)."""
    spec = model.services[service]
    return spec.replicas > 0 and not spec.job


def _busy(history: History, mark: JournalMark | None) -> set[str]:
    """The services with an unfinished rollout now or at `mark`, or one changed since."""
    busy = {entry.service for entry in history.unfinished()}
    return busy | mark.busy | history.touched_since(mark.touched) if mark else busy


def registry_hint(model: ProjectModel, error: AgentlabError, asked: Sequence[str]) -> str:
    """What to do about the registries' error: a lab registry that does not answer is
    started by its environment's `up`; one that answered an error keeps its own hint."""
    down = isinstance(error, EngineUnavailable)  # else it answered, with an error
    if down and len(asked) == 1 and (started := _start_hint(model, asked[0])):
        return started
    return error.hint


def _start_hint(model: ProjectModel, address: str) -> str | None:
    """How to start the registry at `address`: this environment's `up` when it is its own
    (asked first: environments share a fixed port), else that of the other environment
    whose it is; None when it is no environment's."""
    if registry.address(model) == address:
        own = locking.command(model)
        return f"{own} up starts it (or docker start its container); nothing was changed"
    for name in other_environments(model):
        with suppress(AgentlabError):  # a damaged override there: not that one, then
            other = ProjectModel(model.project.in_environment(name), model.engine_factory)
            if registry.address(other) == address:
                up = f"{locking.command(other)} up"
                return f"{up} starts it (that environment's registry); nothing was changed"
    return None


def _unrouted(
    model: ProjectModel, replicas: Sequence[Replica], busy: Collection[str], cli: str
) -> list[Drift]:
    """Ready replicas of the services behind the traffic layer that the proxy does not
    route to (one read of its runtime API per service; none when it is not running)."""
    if lock_held(model.state_dir):  # up, scale, a rollout: routes change under way
        return []
    layer = TrafficLayer(model)
    try:
        behind = layer.services
    except BadInput:  # a damaged override: a view goes on without it, as with the pins
        return []
    found = []
    for service in (name for name in behind if name not in busy):
        try:
            gate = layer.gate(service)
            missing = gate.unrouted([r for r in replicas if r.service == service]) if gate else []
        except AgentlabError:  # the proxy down or not answering: `status` shows it
            continue
        why = "is ready but the traffic layer does not route to it (the proxy restarted, or "
        why += "a command was cut short)"
        hint = f"{cli} up puts the proxy's routes back"
        found += [Drift(service, UNROUTED, name, f"{name} {why}", hint) for name in missing]
    return found


def decisions(model: ProjectModel, busy: Collection[str], strict: bool = True) -> list[Decision]:
    """The decision for each managed service with an image, but the `busy` ones: the pin
    and its revision, and this environment's section of agentlab.lock when it has one. A
    damaged lock is BadInput, but for a view (`strict=False`: status, the TUI) that goes
    on without it."""
    history = model.read_history()
    pins = model.pins(strict=False)
    try:
        lock = read_lockfile(locking.path(model))
    except BadInput:
        if strict:
            raise
        lock = None
    name = locking.environment(model)
    section = lock.section(name) if lock else None
    found = []
    for service in model.managed:
        ref = pins.get(service) or model.services[service].image
        if ref is None or service in busy:
            continue
        current = history.current(service) if history is not None else None
        revision = current if current is not None and current.image_ref == ref else None
        entry = section.get(service) if section is not None else None
        found.append(
            Decision(
                service,
                ref,
                revision.image_id if revision else None,
                revision.number if revision else None,
                _locked(model, name, entry) if entry else None,
                name if section is not None and entry is None else None,
            )
        )
    return found


def _locked(model: ProjectModel, section: str, entry: LockedService) -> Locked:
    """A lock entry with its version's local tag and the local image of its digest."""
    info = model.image(entry.image)  # by digest: what it names never changes
    host, _, path = entry.repository.partition("/")
    repository = path if _loopback(host) else entry.repository
    tag_ref = f"{repository}:{image_tag(entry.version)}"
    return Locked(section, entry.version, entry.digest, entry.repository, tag_ref,
                  info.id if info else None)  # fmt: skip


def _tag_refs(chosen: Sequence[Decision]) -> list[str]:
    refs = [d.image_ref for d in chosen] + [d.locked.tag_ref for d in chosen if d.locked]
    return list(dict.fromkeys(refs))


def _remote_keys(
    chosen: Sequence[Decision], images: Mapping[str, ImageInfo | None], where: str | None
) -> dict[str, tuple[TagKey, str | None]]:
    """Per service, the registry tag to ask about and the digest it should name there when
    not locked (the decided build's, as pushed from here). A locked service's tag is asked
    in the loopback registry its lock names; another is asked in the lab's registry when
    its decided build was pushed there. Other registries are not asked."""
    wanted: dict[str, tuple[TagKey, str | None]] = {}
    for decision in chosen:
        if decision.locked is not None:
            host, _, path = decision.locked.repository.partition("/")
            if _loopback(host):
                key = (host, path, image_tag(decision.locked.version))
                wanted[decision.service] = (key, None)
            continue
        info = images.get(decision.image_ref)
        if where is None or info is None or "@" in decision.image_ref:
            continue
        if decision.image_id is not None and info.id != decision.image_id:
            continue  # the tag moved here: that drift says it
        repository, tag = split_image_ref(decision.image_ref)
        path = repository.removeprefix(f"{where}/")
        pushed = next((ref.partition("@")[2] for ref in info.repo_digests
                       if ref.partition("@")[0] == f"{where}/{path}"), None)  # fmt: skip
        if pushed is not None:
            wanted[decision.service] = ((where, path, tag), pushed)
    return wanted


def _loopback(host: str) -> bool:
    """A registry host on this machine (the lab's, or another environment's)."""
    return host.startswith(("127.", "localhost"))
