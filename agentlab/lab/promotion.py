"""`agentlab promote SERVICE --from staging --to prod`: roll the target environment to the
exact image the source environment's replicas run, with the target's rollout strategy and
settings, under the target's policy.

The image is pinned by its repo digest when it has one (a registry: `repo:tag@sha256:…`,
the exact bytes, whatever the tag names later); else by the tag the source's replicas were
created with, and only while that tag still names the very image they run here (same
image id): a tag that moved since is refused rather than promoted, and said so (also
when the target requires a lock: the moved tag is why no digest is found). A target that
requires a locked digest takes only a digest agentlab.lock lists."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentlab.common.errors import BadInput, OperationFailed
from agentlab.common.imagerefs import short_id, split_image_ref
from agentlab.lab import environment_policy, lock_policy, locking, registry
from agentlab.lab.catalogue import Resolved
from agentlab.lab.environments import RunningImage, running_images
from agentlab.lab.facade import Lab
from agentlab.lab.rollout_io import Emit, drop, never
from agentlab.lab.rollout_plan import RolloutPlan
from agentlab.rollout.phase import RolloutResult
from agentlab.versions import image_tag


@dataclass(frozen=True)
class Promotion:
    """A validated promotion: the source's image and the target's rollout to it (None
    when the target already runs it)."""

    service: str
    source: str
    target: str
    image: RunningImage
    plan: RolloutPlan | None

    @property
    def cause(self) -> str:
        return f"promote {self.service} --from {self.source} --to {self.target}"


def plan_promotion(
    source: Lab, target: Lab, service: str, options: Mapping[str, Any] | None = None
) -> Promotion:
    """Validate everything before any container is touched: the source runs one image of
    the service, its tag still names that image, the target runs the service and its
    policy and requirements accept the image."""
    if source.name == target.name:
        raise BadInput(f"--from and --to are the same environment ({source.environment})",
                       hint=f"agentlab promote {service} --from staging --to prod")  # fmt: skip
    target.service(service)
    image = _source_image(source, service)
    running = running_images(target).get(service, ())
    if not running:
        raise BadInput(f"{target.environment} runs no replica of {service}",
                       hint=f"agentlab -e {target.environment} up")  # fmt: skip
    tag = _version(image)
    environment_policy.check(target.model, service, tag)
    if {i.image_id for i in running} == {image.image_id}:
        return Promotion(service, source.environment, target.environment, image, None)
    pin = digest_pin(source, image, tag)
    ref = pin or image.ref
    found = target.model.image(ref)
    if found is None or found.id != image.image_id:  # before the lock: it is why no digest
        raise _moved(source, service, tag, ref, image, found.id if found else None)
    lock_policy.check_digest(target.model, service, tag, pin.partition("@")[2] if pin else None)
    plan = target.rollouts.prepare(service, Resolved(service, tag, ref), options or {})
    return Promotion(service, source.environment, target.environment, image, plan)


def digest_pin(source: Lab, image: RunningImage, version: str) -> str | None:
    """`repo:tag@sha256:…` of the image the source runs (its digest as the running image
    id has it): in the source lab's registry, else in any registry it was pushed to or
    pulled from (None: it has no digest)."""
    info = source.model.image(image.ref)
    found = [r for r in (info.repo_digests if info else ()) if r.endswith(f"@{image.digest}")]
    if image.digest is None or not found:
        return None
    where = registry.address(source.model)
    ours = [ref for ref in found if where and ref.startswith(f"{where}/")]
    repository = (ours or found)[0].partition("@")[0]
    return f"{repository}:{image_tag(version)}@{image.digest}"


def _version(image: RunningImage) -> str:
    """The version the image says it is (a pin by digest, `repo@sha256:…`, has no tag),
    else its tag."""
    return image.version or split_image_ref(image.ref)[1]


def _moved(
    source: Lab, service: str, tag: str, ref: str, image: RunningImage, now: str | None
) -> BadInput:
    """The source's tag names other bytes than its replicas run (rebuilt or retagged since
    they started): which, and how to promote what is meant."""
    run = locking.command(source.model)
    names = f"names image {short_id(now)} now" if now else "names nothing here any more"
    return BadInput(
        f"{service}: the tag {ref} moved: it {names}, not the image "
        f"{short_id(image.image_id)} that {source.environment} runs",
        hint=f"{run} rollout {service} --to {tag} runs what the tag names now, then promote "
        f"again; or tag the build {source.environment} runs as {ref} again",
    )


def _source_image(source: Lab, service: str) -> RunningImage:
    images = running_images(source).get(service, ())
    if not images:
        raise BadInput(f"{source.environment} runs no replica of {service}",
                       hint=f"agentlab -e {source.environment} status")  # fmt: skip
    if len(images) > 1:
        versions = ", ".join(f"{i.version} ({i.short})" for i in images)
        raise BadInput(
            f"{source.environment} runs {service} on {len(images)} images ({versions})",
            hint=f"finish its rollout first: agentlab -e {source.environment} rollout resume",
        )
    return images[0]


def run_promotion(target: Lab, promotion: Promotion, emit: Emit = drop) -> RolloutResult | None:
    """Roll the target to the promoted image (None: it runs it already), then check that
    each of its running replicas runs exactly that image."""
    if promotion.plan is None:
        return None
    target.engine.prepare_to_mutate()
    result = target.rollouts.run(promotion.plan, emit, promotion.cause, never)
    if result.outcome != "complete":
        return result
    target.reload()
    running = running_images(target).get(promotion.service, ())
    if {i.image_id for i in running} != {promotion.image.image_id}:
        found = ", ".join(i.short for i in running) or "nothing"
        raise OperationFailed(
            f"{promotion.target} runs {found} after the rollout, not {promotion.image.short}",
            hint=f"agentlab -e {promotion.target} status",
        )
    return result
