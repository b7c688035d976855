"""Drift: what a tag names, or what a replica runs, is not what was decided.

Per managed service, three readings are compared: the decision (the pinned image, and the
image id its revision recorded when agentlab rolled it out), what the tag names now, and
what each replica runs. A service whose rollout is under way (or interrupted) is skipped:
its replicas differ by design until the journal says it ended.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from agentlab.common.imagerefs import short_id, split_image_ref
from agentlab.engine.model import Replica
from agentlab.lab.model import ProjectModel

TAG_MOVED = "tag_moved"
REPLICA_IMAGE = "replica_image"


@dataclass(frozen=True)
class Decision:
    """What a managed service should run: its pinned image, and the image id the revision
    that pinned it recorded (None when no revision did, e.g. after a plain `up`)."""

    service: str
    image_ref: str
    image_id: str | None
    revision: int | None = None


@dataclass(frozen=True)
class Drift:
    """One difference, as one line with a hint. `subject` is the tag or the replica."""

    service: str
    kind: str
    subject: str
    reason: str
    hint: str

    def line(self) -> str:
        return f"{self.service}: {self.reason} (hint: {self.hint})"


@dataclass(frozen=True)
class DriftReport:
    """Every difference found, and what was compared."""

    project: str
    drifts: tuple[Drift, ...]
    services: tuple[str, ...]  # the services checked
    replicas: int  # the replicas checked
    busy: tuple[str, ...] = ()  # not checked: a rollout of theirs is under way or interrupted


def find_drift(
    decisions: Sequence[Decision], tags: Mapping[str, str | None], replicas: Sequence[Replica]
) -> list[Drift]:
    """Compare each decision with what its tag names now (`tags`: image ref -> local image
    id, None when absent) and with the image of each of the service's replicas."""
    drifts = []
    for decision in decisions:
        service, ref, decided = decision.service, decision.image_ref, decision.image_id
        now, tag = tags.get(ref), split_image_ref(ref)[1]
        fix = f"agentlab rollout {service} --to {tag} replaces it with the pinned image"
        if decided and now and now != decided:
            back = f"agentlab rollback {service} --to-revision {decision.revision}"
            drifts.append(
                Drift(
                    service,
                    TAG_MOVED,
                    ref,
                    f"tag {ref} moved: revision {decision.revision} ran image "
                    f"{short_id(decided)}, the tag now names {short_id(now)}",
                    f"{back} runs the decided image; agentlab rollout {service} --to {tag} "
                    "takes the new one",
                )
            )
            fix = f"{back} puts it back"
        expected = decided or now
        drifts += [
            Drift(
                service,
                REPLICA_IMAGE,
                replica.name,
                f"{replica.name} runs image {short_id(replica.image_id)} "
                f"({replica.image_ref}), not {short_id(expected)} ({ref})",
                fix,
            )
            for replica in replicas
            if expected and replica.service == service and replica.image_id != expected
        ]
    return drifts


def decisions(model: ProjectModel, busy: Collection[str]) -> list[Decision]:
    """The decision for each managed service with an image, but the `busy` ones."""
    history = model.history()
    pins = model.pins(strict=False)
    found = []
    for service in model.managed:
        ref = pins.get(service) or model.services[service].image
        if ref is None or service in busy:
            continue
        current = history.current(service)
        if current is not None and current.image_ref == ref:
            found.append(Decision(service, ref, current.image_id, current.number))
        else:
            found.append(Decision(service, ref, None))
    return found


def read_drift(model: ProjectModel, replicas: Sequence[Replica] | None = None) -> DriftReport:
    """The project's drift now (against `replicas` when just observed): one image look-up
    per pinned tag, no per-container call."""
    if replicas is None:
        replicas = model.engine.replicas()
    busy = sorted({entry.service for entry in model.history().unfinished()})
    chosen = decisions(model, busy)
    tags = {}
    for decision in chosen:
        image = model.engine.image(decision.image_ref)
        tags[decision.image_ref] = image.id if image else None
    checked = {d.service for d in chosen}
    return DriftReport(
        model.name,
        tuple(find_drift(chosen, tags, replicas)),
        tuple(d.service for d in chosen),
        sum(1 for r in replicas if r.service in checked),
        tuple(busy),
    )
