"""Plans as `--dry-run` prints them: a rollout's (`rollout`, each service `up` rolls, the
one `promote --from --to` runs), `up`'s and a promotion's, as lines or as one JSON
document."""

from __future__ import annotations

from typing import Any

from agentlab.cli.jsonout import emit_json
from agentlab.common.imagerefs import split_image_ref
from agentlab.lab.builds import BuildJob, CatalogueBuild
from agentlab.lab.promotion import Promotion
from agentlab.lab.rollout_plan import RolloutPlan
from agentlab.lab.up_plan import MOVING, RECREATED, ServiceChange, UpPlan


def show_plan(as_json: dict[str, Any], lines: list[str], json_wanted: bool) -> int:
    """Print a dry run's plan as one JSON document or as lines; exit code 0."""
    if json_wanted:
        emit_json(as_json)
    else:
        print("\n".join(lines))
    return 0


def strategy(plan: RolloutPlan) -> str:
    return plan.canary.strategy if plan.canary else plan.settings.strategy


def rollout_summary(plan: RolloutPlan) -> str:
    """`1.0.0 -> 1.1.0, 3 replica(s), rolling`."""
    replicas = plan.service.replicas
    return f"{plan.change}, {replicas} replica(s), {strategy(plan)}"


def rollout_details(plan: RolloutPlan) -> list[str]:
    """What runs first (a fetch, a build), the steps, a canary's gates; indented."""
    lines = []
    if plan.target.fetch is not None:
        lines.append(f"  first fetch {plan.target.fetch.image} (locked, not here)")
    if plan.target.build is not None:
        lines.append(f"  first build {plan.target.build.tag} ({build_source(plan.target.build)})")
    if plan.unchanged:
        return [f"  {plan.unchanged}"]
    if plan.note:
        lines.append(f"  {plan.note}")
    steps = plan.canary.lines() if plan.canary else [s.line() for s in plan.steps()]
    lines += [f"  {line}" for line in steps]
    if plan.canary and plan.canary.analysis.gates:
        analysis = plan.canary.analysis
        lines.append(f"  gates (every {analysis.interval:g}s, {analysis.count} readings, "
                     f"{analysis.failure_limit} failures tolerated, "
                     f"{analysis.min_requests} requests at least):")  # fmt: skip
        lines += [f"    {gate.text}" for gate in analysis.gates]
    return lines


def rollout_lines(plan: RolloutPlan) -> list[str]:
    """`rollout --dry-run`: `plan: SERVICE FROM -> TO, N replica(s), STRATEGY`, then details."""
    return [f"plan: {plan.service.name} {rollout_summary(plan)}", *rollout_details(plan)]


def rollout_json(plan: RolloutPlan) -> dict[str, Any]:
    canary = plan.canary
    return {
        "service": plan.service.name,
        "from": plan.from_image,
        "from_version": plan.from_version,
        "to": plan.target.image,
        "to_version": plan.target.tag,
        "from_config": plan.from_config,  # a configuration rollout's: the hash it leaves
        "replicas": plan.service.replicas,
        "strategy": strategy(plan),
        "note": plan.note or None,
        "fetch": plan.target.fetch.image if plan.target.fetch else None,
        "build": build_json(plan.target.build) if plan.target.build else None,
        "steps": []
        if plan.unchanged
        else (canary.lines() if canary else [s.line() for s in plan.steps()]),
        "gates": [gate.text for gate in canary.analysis.gates] if canary else [],
        "unchanged": plan.unchanged or None,  # why there is nothing to do
    }


def build_source(job: BuildJob) -> str:
    """Where a build comes from: the catalogue's context, or the service's build section."""
    if isinstance(job, CatalogueBuild):
        return f"catalogue version of {job.service}, context {job.context}"
    return f"{job.service}'s build section"


def build_json(job: BuildJob) -> dict[str, Any]:
    source = "catalogue" if isinstance(job, CatalogueBuild) else "build_section"
    return {"service": job.service, "version": job.version, "image": job.tag, "from": source}


def up_lines(plan: UpPlan) -> list[str]:
    """`up --dry-run`: each service's fate, then the builds, fetches and traffic layer."""
    lines = [f"plan: up {plan.project} (dry run: nothing is changed)"]
    for change in plan.changes:
        lines += _change_lines(change)
    lines += [f"build {job.tag} ({build_source(job)})" for job in plan.builds]
    for service, entry in plan.fetches.items():
        lines.append(f"fetch {service} {entry.version}: {entry.image} (locked, not here)")
    if plan.orphans:
        lines.append(plan.orphans_line())
    lines += [f"{name}: {MOVING}" for name in plan.moving]
    if plan.layered:
        lines.append(f"traffic layer: {', '.join(plan.behind)} behind {plan.proxy_image}")
    return lines


def _change_lines(change: ServiceChange) -> list[str]:
    layer = ", behind the traffic layer" if change.behind_layer else ""
    if change.rollout is not None:
        summary = rollout_summary(change.rollout)
        details = [f"  {line}" for line in rollout_details(change.rollout)]
        return [f"  {change.service}: roll {summary}{layer}", *details]
    now = _version(change.current) or "-"
    versions = f"{now} (unchanged)"
    if change.target is not None:  # a new pin: another version, or the same one pinned
        same = change.target.image == change.current
        versions = f"{now} (pinned)" if same else f"{now} -> {change.target.tag}"
    image = change.target.image if change.target else change.current
    if change.recreated:
        versions = f"{now} ({change.recreated}: {RECREATED})"
    word = {"start": "start", "keep": "running, kept", "recreate": "running, recreated"}[
        change.action
    ]
    return [f"  {change.service}: {word} {versions} [{image or 'no image'}]{layer}"]


def _version(image: str | None) -> str | None:
    return split_image_ref(image)[1] if image else None


def up_json(plan: UpPlan) -> dict[str, Any]:
    return {
        "dry_run": True,
        "project": plan.project,
        "services": [
            {
                "service": change.service,
                "action": change.action,
                "running": change.running,
                "from": change.current,
                "to": change.target.image if change.target else change.current,
                "from_version": _version(change.current),
                "to_version": change.target.tag if change.target else _version(change.current),
                "behind_traffic_layer": change.behind_layer,
                "rollout": rollout_json(change.rollout) if change.rollout else None,
            }
            for change in plan.changes
        ],
        "builds": [build_json(job) for job in plan.builds],
        "fetches": [
            {"service": service, "version": entry.version, "image": entry.image}
            for service, entry in plan.fetches.items()
        ],
        "traffic_layer": {
            "services": list(plan.behind),
            "moving": list(plan.moving),
            "proxy_image": plan.proxy_image or None,
        },
    }


def promotion_lines(promotion: Promotion) -> list[str]:
    """`promote --from --to --dry-run`: the image, then the rollout the target would run."""
    image = promotion.image
    what = f"{promotion.service} {image.version} ({image.short})"
    if promotion.plan is None:
        return [f"plan: {promotion.target} already runs {what}: nothing to promote"]
    return [
        f"plan: promote {what} from {promotion.source} to {promotion.target}, "
        f"as {promotion.plan.target.image} (dry run: nothing is changed)",
        *rollout_lines(promotion.plan),
    ]


def promotion_json(promotion: Promotion) -> dict[str, Any]:
    image = promotion.image
    return {
        "dry_run": True,
        "service": promotion.service,
        "from_environment": promotion.source,
        "to_environment": promotion.target,
        "image": {
            "version": image.version,
            "image": image.ref,
            "image_id": image.image_id,
            "digest": image.digest,
        },
        "rollout": rollout_json(promotion.plan) if promotion.plan else None,
    }
