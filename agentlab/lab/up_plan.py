"""What `agentlab up` will do, worked out before anything is touched: the pins it asks for,
the images it builds or fetches, the running services it rolls out (through the rollout
machinery) and the ones it starts, the services it moves behind the traffic layer. Every
check `up` makes is made here, by reads only; `up` then runs this plan, and `up --dry-run`
prints it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from agentlab.common.errors import BadInput
from agentlab.common.imagerefs import same_image_ref, split_image_ref
from agentlab.engine.model import Replica, ServiceSpec
from agentlab.lab import builds, environment_policy, environment_ports, lock_policy
from agentlab.lab.catalogue import Catalogue, Resolved
from agentlab.lab.lock_policy import KEPT
from agentlab.lab.model import ProjectModel
from agentlab.lab.name_clashes import check_names_free
from agentlab.lab.ports import check_ports_free
from agentlab.lab.rollout_plan import RolloutPlan
from agentlab.lab.rollouts import Rollouts
from agentlab.lab.traffic_layer import TrafficLayer
from agentlab.lab.unfinished import refuse_over_unfinished
from agentlab.state.lockfile import LockedService
from agentlab.state.override import LAYER_PREFIX, MovedPort, read_pins

# What `up` says of a running service Compose recreates, after why.
RECREATED = "Compose recreates all its replicas at once, not rolled out"
MOVING = ("moving behind the traffic layer: its host port goes to the proxy, and Compose "
          "recreates its replicas without it, so the port answers nothing until they are ready "
          "and routed")  # fmt: skip
EDITED = "configuration edited"


@dataclass(frozen=True)
class ServiceChange:
    """One service of the project as `up` leaves it."""

    service: str
    current: str | None  # the image it is pinned to now (its pin, else the compose file's)
    target: Resolved | None  # the image `up` pins it to; None: it keeps `current`
    running: bool  # some replica of it runs now
    rollout: RolloutPlan | None = None  # a running service whose pin changes is rolled out
    behind_layer: bool = False  # behind the traffic layer after `up`
    recreated: str = ""  # running, and Compose recreates it: why (EDITED, a moved tag)

    @property
    def action(self) -> str:
        """`roll` (running, new pin), `start` (nothing of it runs), `recreate` (running,
        its configuration edited in the files: Compose recreates its replicas, all at
        once), `keep` (runs as is)."""
        if self.rollout is not None:
            return "roll"
        if self.recreated:
            return "recreate"
        return "keep" if self.running else "start"


@dataclass(frozen=True)
class UpPlan:
    """Everything `up` does, validated: run it with `Lifecycle.apply`."""

    project: str
    pinned: tuple[Resolved, ...]  # every pin asked for (`--version`, `--set`, the lock's)
    changes: tuple[ServiceChange, ...]  # the project's services: the pinned ones first
    builds: tuple[builds.BuildJob, ...]  # images to build first (pushed with a registry)
    layered: tuple[MovedPort, ...]  # the ports the traffic layer's proxy publishes
    layered_before: tuple[str, ...] = ()  # the services behind the traffic layer until now
    proxy_image: str = ""  # the traffic layer's, when there is one
    orphans: tuple[str, ...] = ()  # containers of services gone from the files, running

    def orphans_line(self) -> str:
        """What `up` says of the containers whose service is gone from the files."""
        one = len(self.orphans) == 1
        verb, whose = ("runs", "its service is") if one else ("run", "their services are")
        return (f"note: {', '.join(self.orphans)} {verb}, but {whose} gone from the compose "
                f"files (agentlab down removes {'it' if one else 'them'})")  # fmt: skip

    @property
    def fetches(self) -> dict[str, LockedService]:
        """Per service, the locked image to fetch from its registry first (not here)."""
        return {r.service: r.fetch for r in self.pinned if r.fetch is not None}

    @property
    def rolls(self) -> list[RolloutPlan]:
        """The rollouts `up` runs, in order (the services others require first)."""
        return [c.rollout for c in self.changes if c.rollout is not None]

    @property
    def fresh(self) -> list[Resolved]:
        """The new pins of the services that do not run: written, then started."""
        return [c.target for c in self.changes if c.target is not None and c.rollout is None]

    @property
    def behind(self) -> tuple[str, ...]:
        """The services behind the traffic layer after `up`."""
        return tuple(dict.fromkeys(port.service for port in self.layered))

    @property
    def moving(self) -> tuple[str, ...]:
        """The running services `up` moves behind the traffic layer (their ports go to the
        proxy: Compose recreates them)."""
        running = {change.service for change in self.changes if change.running}
        return tuple(name for name in self.behind
                     if name not in self.layered_before and name in running)  # fmt: skip


UNSUPPORTED_HINT = (
    "remove it from the compose file, or run a newer engine (agentlab probes a "
    "starting replica every probe_interval itself, as start_interval would)"
)


def plan_up(
    model: ProjectModel,
    catalogue: Catalogue,
    rollouts: Rollouts,
    layer: TrafficLayer,
    version: str | None,
    sets: Mapping[str, str],
    traffic_layer: Sequence[str] = (),
    locked_pins: Sequence[Resolved] = (),
) -> UpPlan:
    """Validate `up` (versions, requirements, the lock's rules, images present or
    buildable from local bases, host ports and container names free, each rollout's
    settings) and say what it will do; reads only. `locked_pins`: images to pin besides
    (`up --locked`)."""
    layered = layer.plan(traffic_layer)
    edits = [] if locked_pins else _edited_over_pins(model, catalogue, version, sets)
    resolved = [*catalogue.plan_pins(version, sets), *edits, *locked_pins]
    rest = catalogue.locked_rest(resolved)  # an environment that requires a lock
    if locked_pins or rest:
        resolved = [*resolved, *rest]
        catalogue.check_requirements(resolved)
    jobs = [r.build for r in resolved if r.build is not None]
    jobs += catalogue.missing_images(resolved)
    builds.check_bases(model.engine, jobs)
    if model.has_history():  # a dry run creates none
        # Compose would recreate the replicas an interrupted or paused rollout left, at once
        refuse_over_unfinished(model.history())
    model.engine.check()
    if unsupported := model.engine.unsupported():
        more = f" (and {len(unsupported) - 1} more)" if len(unsupported) > 1 else ""
        raise BadInput(unsupported[0] + more, hint=UNSUPPORTED_HINT)
    replicas = [r for r in model.engine.replicas() if r.running]
    running = {r.service for r in replicas}
    if not environment_ports.ephemeral(model):  # an environment's become ephemeral
        check_ports_free(model, running)
    check_names_free(model, running)
    pins = read_pins(model.override_path)
    behind = tuple(dict.fromkeys(port.service for port in layered))
    changed = {r.service: r for r in resolved if pins.get(r.service) != r.image}
    edited = _edited(model, replicas, changed)
    moving = set(behind) - set(layer.services)  # recreated for their ports, said below
    asked = [name for name in sorted(running) if name in model.services  # not an orphan:
             and not name.startswith(LAYER_PREFIX)  # Compose refuses to dry-run those
             and name not in changed and name not in edited and name not in moving]  # fmt: skip
    stale = model.engine.stale_replicas(asked)
    order = [*(r.service for r in resolved), *model.services]
    changes = []
    for name in dict.fromkeys(order):
        if name.startswith(LAYER_PREFIX):  # agentlab's own: the proxy, the registry
            continue
        target, rollout = changed.get(name), None
        current = model.current_image(name) if name in model.managed else None
        current = current or model.services[name].image
        as_run = _as_up_runs(model, model.services[name], behind)
        diverged = _diverged(replicas, name, stale) if name in asked else None
        if target is not None and name in running and not as_run.job:  # a job: Compose's
            rollout = rollouts.prepare(name, target, {}, as_run=as_run, behind=behind)
        elif name in edited:
            rollout = _roll_edited(rollouts, *edited[name], as_run, behind)
            if rollout is not None:  # else Compose recreates it, as it always did
                target, current = edited[name]
        elif (
            diverged is not None
            and current is not None
            and _rollable(model, replicas, name, current)
        ):
            rollout = _roll_edited(rollouts, Resolved(name, split_image_ref(current)[1], current),
                                   current, as_run, behind, diverged)  # fmt: skip
        recreated = ""
        if rollout is None and (diverged is not None or name in edited):
            recreated = _why_recreated(model, replicas, name, current)
        changes.append(
            ServiceChange(
                name, current, target, name in running, rollout, name in behind, recreated
            )
        )
    changes = _joiners_follow(model, changes, moving)
    before = layer.services
    orphans = tuple(sorted(r.name for r in replicas if r.service not in model.services))
    return UpPlan(model.name, tuple(resolved), tuple(changes), tuple(jobs), layered, before,
                  layer.image() if layered else "", orphans)  # fmt: skip


def _joiners_follow(
    model: ProjectModel, changes: list[ServiceChange], moving: Collection[str]
) -> list[ServiceChange]:
    """A running service in the network namespace of one `up` rolls, recreates or moves
    behind the traffic layer is recreated after it (Compose then sees its container
    gone): said so, with why (over "configuration edited": Compose finds its config
    changed with its parent's container; another reason stays); a joiner's joiners too."""
    moved = {c.service for c in changes if c.rollout is not None or c.recreated} | set(moving)
    followed = list(changes)
    while True:
        more = [i for i, c in enumerate(followed)
                if c.running and c.rollout is None and c.recreated in ("", EDITED)
                and model.services[c.service].network_parent in moved]  # fmt: skip
        if not more:
            return followed
        for i in more:
            parent = model.services[followed[i].service].network_parent
            why = f"it joins {parent}'s network namespace, whose containers change"
            followed[i] = replace(followed[i], recreated=why)
            moved.add(followed[i].service)


def _edited_over_pins(
    model: ProjectModel, catalogue: Catalogue, version: str | None, sets: Mapping[str, str]
) -> list[Resolved]:
    """The images the user's files ask for now over agentlab's pins (an `image:` edited
    since the pin), but for the services the command line names: taken as they are (as
    an edit with no pin is), under the environment's policy, and by the locked digest in
    an environment that requires one."""
    asked = {*sets, *(model.primary if version is not None else ())}
    found = []
    for service, image in model.edited_over_pins().items():
        tag = split_image_ref(image)[1]
        if service in asked:
            continue
        environment_policy.check(model, service, tag)
        if lock_policy.required(model):
            found.append(catalogue.locked(lock_policy.choose(model, service, tag, KEPT)))
        else:
            found.append(Resolved(service, tag, image))
    return found


def _edited(
    model: ProjectModel, replicas: Sequence[Replica], changed: Mapping[str, Resolved]
) -> dict[str, tuple[Resolved, str]]:
    """The running managed services `up` pins nothing new for whose replicas were created
    from another image than the one they now name (compose.yaml's `image:` edited, or
    the pin): each with that image as a target, and the other one they run. Compose
    would recreate their replicas all at once; `up` rolls them out instead."""
    edited = {}
    for name in model.managed:
        image = model.current_image(name)
        if name in changed or image is None:
            continue
        other = [r.image_ref for r in replicas
                 if r.service == name and not same_image_ref(r.image_ref, image)]  # fmt: skip
        if other:
            edited[name] = (Resolved(name, split_image_ref(image)[1], image), other[0])
    return edited


def _diverged(replicas: Sequence[Replica], service: str, stale: Collection[str]) -> str | None:
    """The configuration hash most of the `stale` replicas of `service` were created from
    (Compose's next `up` would recreate them all at once: their configuration was edited
    since), or None when none is stale."""
    hashes = [r.config_hash for r in replicas if r.service == service and r.name in stale]
    found = Counter(h for h in hashes if h).most_common(1)
    return found[0][0] if found else None


def _why_recreated(
    model: ProjectModel, replicas: Sequence[Replica], service: str, current: str | None
) -> str:
    """Why Compose recreates a running service: its tag names other bytes than its
    replicas run (rebuilt, or moved by hand), else its configuration was edited."""
    if current is None or (info := model.image(current)) is None:
        return EDITED
    moved = any(
        r.image_id != info.id and same_image_ref(r.image_ref, current)
        for r in replicas if r.service == service
    )  # fmt: skip
    tag = split_image_ref(current)[1]
    return f"its tag {tag} names other bytes now (rebuilt or moved)" if moved else EDITED


def _rollable(model: ProjectModel, replicas: Sequence[Replica], service: str, current: str) -> bool:
    """Whether an edited configuration of `service` can be rolled out: its replicas run
    the bytes `current` names (else Compose recreates them for the image too: a rebuilt
    tag), and copies of them can be made for the way back."""
    info = model.image(current)
    same = info is not None and all(r.image_id == info.id for r in replicas if r.service == service)
    return same and model.engine.copyable(service)


def _roll_edited(
    rollouts: Rollouts,
    target: Resolved,
    running: str,
    as_run: ServiceSpec,
    behind: Sequence[str],
    from_config: str | None = None,
) -> RolloutPlan | None:
    """The rollout of an edited service, from the image its replicas run (and, for an
    edited configuration, away from the hash they were created from); None when the
    service cannot be rolled (Compose recreates it, as it always did)."""
    try:
        return rollouts.prepare(target.service, target, {}, from_image=running, as_run=as_run,
                                behind=behind, from_config=from_config)  # fmt: skip
    except BadInput:
        return None


def _as_up_runs(model: ProjectModel, spec: ServiceSpec, behind: Sequence[str]) -> ServiceSpec:
    """A service as `up` runs it once it has written the override: behind the traffic
    layer it publishes no port (the proxy does), in an ephemeral environment its fixed
    host ports are ephemeral ones."""
    if spec.name in behind:
        return replace(spec, ports=())
    if spec.name in environment_ports.wanted_ports(model):
        return replace(spec, ports=tuple(replace(p, published=None) for p in spec.ports))
    return spec
