"""A rollout validated before anything changes (`RolloutPlan`, what `--dry-run` prints),
and the rules that shape it from the service: stop-first where a surge is impossible or
unsafe, and no canary there."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentlab.common.errors import BadInput
from agentlab.common.imagerefs import same_image_ref, short_id, split_image_ref
from agentlab.common.words import counted
from agentlab.engine.model import ImageInfo, Replica, ServiceSpec
from agentlab.lab.catalogue import Resolved
from agentlab.rollout.availability import serves
from agentlab.rollout.canary import CanaryPlan
from agentlab.rollout.phase import refuse_unsafe
from agentlab.rollout.planner import PlannedStep, budget, plan
from agentlab.rollout.settings import (
    SURGE_OPTIONS,
    RolloutSettings,
    build_rollback_settings,
    without_surge,
)
from agentlab.state.history_records import JournalEntry


@dataclass(frozen=True)
class RolloutPlan:
    """A validated rollout, ready to run or to print (`--dry-run`)."""

    service: ServiceSpec
    target: Resolved
    from_image: str
    settings: RolloutSettings
    rollback_settings: RolloutSettings
    note: str = ""  # said with the settings when the rollout starts
    canary: CanaryPlan | None = None  # a canary's steps and gates, else a rolling/recreate
    canary_record: Mapping[str, Any] | None = None  # journaled: rebuilds the plan on resume
    # A configuration rollout (the compose files edited, the image kept): the Compose config
    # hash its replicas ran; None: a rollout of an image.
    from_config: str | None = None
    # the rollout options given (canary ones aside: the canary record keeps those),
    # journaled so that resume and undo run with the same settings
    options: Mapping[str, Any] = field(default_factory=dict)
    # every replica already runs the target: what to say instead of running it
    unchanged: str = ""

    @property
    def from_version(self) -> str:
        return split_image_ref(self.from_image)[1]

    def nothing_to_do(self, replicas: Sequence[Replica], image: ImageInfo | None) -> str:
        """What to say when every desired replica already runs the target's bytes from
        its reference and serves (a rollout there would only add a revision); else ""."""
        want = self.service.replicas
        if self.from_config is not None or image is None or not want or len(replicas) != want:
            return ""
        named = self.settings.name_when_ready
        for replica in replicas:
            if not serves(replica, named) or replica.image_id != image.id:
                return ""
            if not same_image_ref(replica.image_ref, self.target.image):
                return ""
        return (
            f"{self.service.name} already runs {self.target.tag} on "
            f"{counted(want, 'replica')}: nothing to do"
        )

    @property
    def change(self) -> str:
        """`1.0.0 -> 1.1.0`, `1.3.0 -> 1.3.0@0a1b2c3d4e5f` (the same version by a digest
        the lock names), or `1.0.0 (configuration edited)`."""
        if self.from_config is not None:
            return f"{self.from_version} (configuration edited)"
        digest = self.target.image.partition("@")[2]
        if self.from_version == self.target.tag and digest and digest not in self.from_image:
            return f"{self.from_version} -> {self.target.tag}@{short_id(digest)}"
        return f"{self.from_version} -> {self.target.tag}"

    def steps(self) -> list[PlannedStep]:
        return plan(self.service.replicas, self.settings)


def stop_first_when_needed(
    spec: ServiceSpec,
    settings: RolloutSettings,
    rollback: RolloutSettings,
    options: Mapping[str, Any],
) -> tuple[RolloutSettings, RolloutSettings, str]:
    """Stop-first settings and the note that says why, unless a surge was asked for (an
    option; for a caution, also update_config's `order: start-first`), for a service that
    admits one container (its surge blockers) or that one container alone should write
    (its surge cautions); else the settings as they are and no note."""
    asked = any(options.get(name) is not None for name in SURGE_OPTIONS)
    reasons = [] if asked else [*spec.surge_blockers(), *cautions_that_apply(spec)]
    if not reasons:
        return settings, rollback, ""
    effect = "one replica fewer at a time" if spec.replicas > 1 else "expect downtime"
    note = f"stop-first, {effect}: " + "; ".join(reasons)
    return without_surge(settings), without_surge(rollback), note


def refuse_unrunnable(spec: ServiceSpec, *settings: RolloutSettings) -> None:
    """BadInput for settings this service cannot run (a surge beside a fixed port, wider
    than the ports a host port range spares), before anything changes."""
    refuse_unsafe(spec, *settings)
    spare = spec.spare_host_ports()
    for each in settings:
        surge = budget(spec.replicas, each).surge if each.strategy == "rolling" else 0
        if spare is not None and 0 < spare < surge:  # none to spare: refused above
            raise BadInput(
                f"{spec.name}'s host port range has {counted(spare, 'port')} to spare, "
                f"too few for a surge of {surge}",
                hint=f"use --max-surge {spare}",
            )


def cautions_that_apply(spec: ServiceSpec) -> list[str]:
    """A service's surge cautions, unless update_config's `order: start-first` says a new
    replica may run beside the old one."""
    return [] if spec.update_config.get("order") == "start-first" else spec.surge_cautions()


def refuse_beside(spec: ServiceSpec) -> None:
    """Refuse a canary (new replicas beside the old) for a service that admits one container
    (its surge blockers) or whose one container alone should write its named volumes (its
    surge cautions, unless update_config's `order: start-first` says both may)."""
    if reasons := spec.surge_blockers() or cautions_that_apply(spec):
        if spec.container_name:
            way = "remove container_name"
        elif spec.fixed_host_ports:
            way = f"agentlab up --traffic-layer {spec.name}"  # it takes the host ports
        else:
            way = f"stop-first: agentlab rollout {spec.name} --to VERSION --strategy rolling"
        raise BadInput(f"a canary runs new replicas beside the old: {'; '.join(reasons)}",
                       hint=way)  # fmt: skip


def continued_plan(
    spec: ServiceSpec,
    entry: JournalEntry,
    target: Resolved,
    settings_of: Callable[[str, Mapping[str, Any]], RolloutSettings],
) -> RolloutPlan:
    """The plan of an unfinished rollout (resume, undo), with the options it was given;
    with the service's own settings when those no longer apply (the compose file changed
    since: a fixed host port now refuses --max-surge), said in its note."""

    def with_options(options: Mapping[str, Any], stale: str) -> RolloutPlan:
        settings = settings_of(entry.service, options)
        rollback = build_rollback_settings(settings, spec.rollback_config)
        settings, rollback, note = stop_first_when_needed(spec, settings, rollback, options)
        refuse_unrunnable(spec, settings, rollback)
        return RolloutPlan(spec, target, entry.from_image, settings, rollback,
                           "; ".join(filter(None, [stale, note])),
                           from_config=entry.from_config, options=options)  # fmt: skip

    try:
        return with_options(entry.options, "")
    except BadInput as refused:
        if not entry.options:
            raise
        return with_options({}, f"its options no longer apply ({refused.message})")
