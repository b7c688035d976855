"""Drift: what a tag names, or what a replica runs, is not what was decided.

Per managed service, readings are compared with the decision: the pinned image and the
image id its revision recorded, or, when agentlab.lock has a section for the environment,
the locked digest. The readings: what the tag names now here and in the registry,
and what each replica runs. A service whose rollout is under way (or interrupted) is
skipped: its replicas differ by design until the journal says it ended. (Environments
that run the same version on other bytes: lab/drift_environments.py; the readings:
lab/drift_reading.py.)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from agentlab.common.imagerefs import short_id, split_image_ref
from agentlab.engine.model import Replica

TAG_MOVED = "tag_moved"
REPLICA_IMAGE = "replica_image"
NOT_LOCKED = "not_locked"
ENVIRONMENT_DIFFERS = "environment_differs"
CONFIG_EDITED = "config_edited"
UNROUTED = "unrouted"


@dataclass(frozen=True)
class Locked:
    """agentlab.lock's word on a service: the section (environment), the version, digest
    and repository, the local tag of that version and the local image id of the digest
    (None: the locked image is not here)."""

    section: str
    version: str
    digest: str
    repository: str  # where the digest is: `host:port/repo`
    tag_ref: str
    image_id: str | None


@dataclass(frozen=True)
class Decision:
    """What a managed service should run: its pinned image, and the image id the revision
    that pinned it recorded (None when no revision did, e.g. after a plain `up`). With a
    lock section for the environment, `locked` is the service's entry (the decision), or
    `unlisted` names the section that does not list the service."""

    service: str
    image_ref: str
    image_id: str | None
    revision: int | None = None
    locked: Locked | None = None
    unlisted: str | None = None


@dataclass(frozen=True)
class RemoteTag:
    """A tag in the lab's registry: `ref` (host:port/repo:tag), the digest it names now
    (None: none), and the registry digest of the decided build here (None: not pushed)."""

    ref: str
    digest: str | None
    pushed: str | None


@dataclass(frozen=True)
class Drift:
    """One difference, as one line with a hint. `subject` is the tag, the replica, the
    service (not_locked) or the other environment (environment_differs)."""

    service: str
    kind: str
    subject: str
    reason: str
    hint: str

    def line(self) -> str:
        return f"{self.service}: {self.reason} (hint: {self.hint})"


@dataclass(frozen=True)
class DriftReport:
    """Every difference found, and what was compared. `unknown` says, in one line, what
    could not be compared (the registry did not answer)."""

    project: str
    drifts: tuple[Drift, ...]
    services: tuple[str, ...]  # the services checked
    replicas: int  # the running replicas checked
    busy: tuple[str, ...] = ()  # not checked: a rollout of theirs is under way or interrupted
    registry: str | None = None  # the registry asked (host:port), if any
    environments: tuple[str, ...] = ()  # the other environments compared (running ones)
    unknown: str | None = None
    # checked, and none of the replicas they want runs (stopped, down): said, not drift
    not_running: tuple[str, ...] = ()


def not_running_line(service: str, cli: str = "agentlab") -> str:
    """How `drift` says a service none of whose replicas runs (`DriftReport.not_running`)."""
    return f"{service}: no replica running ({cli} up starts it)"


def unknown_line(unknown: str) -> str:
    """How `drift` and `watch` say what could not be compared (`DriftReport.unknown`)."""
    return f"unknown: {unknown}"


def find_drift(
    decisions: Sequence[Decision],
    tags: Mapping[str, str | None],
    replicas: Sequence[Replica],
    remote: Mapping[str, RemoteTag] | None = None,
    cli: str = "agentlab",
) -> list[Drift]:
    """Compare each decision with what its tags name now (`tags`: image ref -> local image
    id, None when absent; `remote`: service -> its tag in the registry) and with the image
    of each of the service's replicas. `cli` prefixes the hints (`agentlab -e prod`)."""
    drifts = []
    for decision in decisions:
        mine = [r for r in replicas if r.service == decision.service]
        found = remote.get(decision.service) if remote else None
        if decision.locked is not None:
            drifts += _against_lock(decision, decision.locked, tags, mine, found, cli)
        else:
            drifts += _against_pin(decision, tags, mine, found, cli)
    return drifts


def find_config_drift(
    stale: Collection[str],
    replicas: Sequence[Replica],
    reported: Collection[str],
    named: Mapping[str, str | None],
    cli: str = "agentlab",
) -> list[Drift]:
    """The running replicas Compose would recreate (`stale`) that run the bytes their
    service's pin names now (`named`: service -> image id), so for their configuration,
    edited since they were created; but those `reported` already (on another image)."""
    return [
        Drift(
            replica.service,
            CONFIG_EDITED,
            replica.name,
            f"{replica.name} runs a configuration the compose files no longer give "
            "(edited since it was created)",
            f"{cli} up rolls the edit out, one replica at a time",
        )
        for replica in replicas
        if replica.running
        and replica.name in stale
        and replica.name not in reported
        and replica.image_id == named.get(replica.service)
    ]


def _against_pin(
    decision: Decision,
    tags: Mapping[str, str | None],
    replicas: Sequence[Replica],
    remote: RemoteTag | None,
    cli: str,
) -> list[Drift]:
    service, ref, decided = decision.service, decision.image_ref, decision.image_id
    now, tag = tags.get(ref), split_image_ref(ref)[1]
    fix = f"{cli} rollout {service} --to {tag} replaces it with the pinned image"
    drifts = []
    if decided and now and now != decided:
        back = f"{cli} rollback {service} --to-revision {decision.revision}"
        reason = (f"tag {ref} moved: revision {decision.revision} ran image {short_id(decided)}, "
                  f"the tag now names {short_id(now)}")  # fmt: skip
        hint = f"{back} runs the decided image; {cli} rollout {service} --to {tag} takes the new"
        drifts.append(Drift(service, TAG_MOVED, ref, reason, hint))
        fix = f"{back} puts it back"
    elif remote is not None and remote.pushed and remote.digest != remote.pushed:
        drifts.append(
            Drift(
                service,
                TAG_MOVED,
                remote.ref,
                f"tag {remote.ref} {_moved_in_registry(remote.digest)}; the build here "
                f"({ref}) was pushed as {_short(remote.pushed)}",
                f"{cli} images push --service {service} --version {tag} puts this build back "
                f"under the tag; {cli} images pull {service} {tag} takes the registry's",
            )
        )
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
        if expected and replica.image_id != expected
    ]
    if decision.unlisted is not None and replicas:
        drifts.append(
            Drift(
                service,
                NOT_LOCKED,
                service,
                f"{service} runs {tag}, which agentlab.lock's section {decision.unlisted} "
                "does not list",
                f"{cli} lock locks what runs now",
            )
        )
    return drifts


def _against_lock(
    decision: Decision,
    locked: Locked,
    tags: Mapping[str, str | None],
    replicas: Sequence[Replica],
    remote: RemoteTag | None,
    cli: str,
) -> list[Drift]:
    """The lock is the decision: the tag of its version here and in the registry, and
    every replica, are compared with the locked digest."""
    service, section = decision.service, locked.section
    want = f"the locked {locked.version} ({_short(locked.digest)})"
    keep = f"{cli} up --locked runs the locked digest whatever the tag names"
    drifts = []
    here = tags.get(locked.tag_ref)
    if here is not None and here != locked.image_id:
        reason = f"tag {locked.tag_ref} names image {short_id(here)} here, not {want}"
        drifts.append(Drift(service, TAG_MOVED, locked.tag_ref, reason, keep))
    if remote is not None and remote.digest != locked.digest:
        reason = (f"tag {remote.ref} {_moved_in_registry(remote.digest)}; agentlab.lock's "
                  f"section {section} has {_short(locked.digest)}")  # fmt: skip
        drifts.append(Drift(service, TAG_MOVED, remote.ref, reason, keep))
    pinned = decision.image_id or tags.get(decision.image_ref)
    off = [r for r in replicas if locked.image_id is None or r.image_id != locked.image_id]
    on_pin = [r for r in off if pinned and r.image_id == pinned]
    if on_pin:
        tag = split_image_ref(decision.image_ref)[1]
        drifts.append(
            Drift(
                service,
                NOT_LOCKED,
                service,
                f"{service} runs {tag} (image {short_id(on_pin[0].image_id)}), not {want} "
                f"of agentlab.lock's section {section}",
                f"{cli} up --locked runs the locked digest; {cli} lock locks what runs now",
            )
        )
    drifts += [
        Drift(
            service,
            REPLICA_IMAGE,
            replica.name,
            f"{replica.name} runs image {short_id(replica.image_id)} ({replica.image_ref}), "
            f"not {want}",
            f"{cli} up --locked replaces it with the locked image",
        )
        for replica in off
        if replica not in on_pin
    ]
    return drifts


def _moved_in_registry(digest: str | None) -> str:
    if digest is None:
        return "names nothing in the registry any more"
    return f"moved in the registry to {_short(digest)}"


def _short(digest: str) -> str:
    """`sha256:` and the first 12 hex digits."""
    return f"sha256:{short_id(digest)}"
