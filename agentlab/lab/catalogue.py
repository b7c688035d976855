"""Versions of the managed services: what is local or buildable, what a version or range
resolves to, and the cross-service requirements (`io.agentlab.requires`) a change must keep."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import semver

from agentlab.common.errors import BadInput
from agentlab.common.imagerefs import short_id, split_image_ref
from agentlab.lab import builds, environment_policy, lock_policy
from agentlab.lab.model import ProjectModel
from agentlab.state.lockfile import LockedService
from agentlab.versions import (
    NoMatchingVersion,
    check_policy,
    image_tag,
    parse_requirement,
    parse_version,
    resolve,
    sort_tags,
    try_version,
)

REQUIRES_LABEL = "io.agentlab.requires"


@dataclass(frozen=True)
class Resolved:
    """A service's requested version, resolved to a local (or buildable) image."""

    service: str
    tag: str
    image: str
    build: builds.BuildJob | None = None
    fetch: LockedService | None = None  # a locked image to pull first (not here yet)


@dataclass(frozen=True)
class VersionRow:
    """One local or buildable version of a service, as `versions` shows it."""

    version: str
    current: bool
    local: bool
    image_id: str | None
    blocked: str | None  # why the policy refuses it
    note: str
    requires: str | None
    digest: str | None = None  # the repo digest, once pushed to (or pulled from) a registry

    @property
    def blocked_note(self) -> str:
        """Why the policy refuses a rollout to it ('' when it does not): the current one
        runs, and only a rollout to it is refused."""
        if not self.blocked:
            return ""
        return f"{'runs; a rollout to it is ' if self.current else ''}blocked: {self.blocked}"


class Catalogue:
    """Resolution and listing of versions over one project model."""

    def __init__(self, model: ProjectModel) -> None:
        self.model = model

    def versions(self, service: str | None = None) -> dict[str, list[VersionRow]]:
        """Local and buildable versions per managed service, semver-sorted, current marked."""
        model = self.model
        names = [model.service(service).name] if service else model.managed
        policy = model.project.settings.policy
        result = {}
        for name in names:
            local = {info.tag: info for info in model.local_tags(name)}
            entry = model.project.settings.catalogue.get(name)
            recipes = dict(entry.versions) if entry else {}
            current = model.current_image(name)
            current_tag = split_image_ref(current)[1] if current else None
            unlocked = lock_policy.unlocked_reason(model, name)
            rows = []
            for tag in sort_tags(set(local) | set(recipes)):
                info, recipe = local.get(tag), recipes.get(tag)
                labels = info.labels if info else (recipe.labels if recipe else {})
                rows.append(
                    VersionRow(
                        version=tag,
                        current=tag == current_tag,
                        local=info is not None,
                        image_id=short_id(info.id) if info else None,
                        blocked=check_policy(tag, policy) or unlocked(tag),
                        note=recipe.note if recipe else "",
                        requires=labels.get(REQUIRES_LABEL),
                        digest=info.digest if info else None,
                    )
                )
            result[name] = rows
        return result

    def resolve(self, service: str, spec: str) -> Resolved:
        """Resolve a version or range to a local tag the environment's policy accepts; an
        exact missing version may be built. In an environment that requires a locked
        digest: to the digest agentlab.lock records (to fetch, when it is not here, once
        every check passed: nothing is pulled here)."""
        self.model.service(service)  # an unknown name first, before any policy's word on it
        environment_policy.check_requested(self.model, service, spec)
        if lock_policy.required(self.model):
            chosen = lock_policy.choose(self.model, service, spec)
            environment_policy.check(self.model, service, chosen.tag)
            return self.locked(chosen)
        resolved = self._resolve(service, spec)
        environment_policy.check(self.model, service, resolved.tag)
        return resolved

    def _resolve(self, service: str, spec: str) -> Resolved:
        repo = self.model.repository(service)
        exact = self._exact_local_tag(repo, spec)
        if exact is not None:
            return Resolved(service, exact, f"{repo}:{exact}")
        tags = [info.tag for info in self.model.local_tags(service)]
        try:
            tag = resolve(spec, tags, self.model.project.settings.policy)
            return Resolved(service, tag, f"{repo}:{tag}")
        except NoMatchingVersion as missing:
            job = self._build_job(service, spec)
            if job is None:
                raise BadInput(
                    f"no local image of {service} matches {spec}, and none can be built",
                    hint=missing.hint,
                ) from None
            return Resolved(service, job.version, job.tag, job)

    def _exact_local_tag(self, repo: str, spec: str) -> str | None:
        """The tag an exact version names, as typed or without/with its `v`, when it is
        local: one inspect instead of listing every tag of the repository."""
        try:
            version = str(parse_version(spec))
        except BadInput:
            return None
        for tag in dict.fromkeys((spec.strip(), image_tag(version), f"v{image_tag(version)}")):
            if self.model.image(f"{repo}:{tag}") is not None:
                return tag
        return None

    def _build_job(self, service: str, spec: str) -> builds.BuildJob | None:
        """How to build the exact version `spec` names (None for a range, or when the
        service has neither a catalogue entry with that version nor a build section)."""
        try:
            wanted = parse_version(spec)
        except BadInput:
            return None  # a range or policy word: only local tags can satisfy it
        if service in self.model.project.settings.catalogue:
            return self._catalogue_job(service, wanted)
        spec_ = self.model.services[service]
        if spec_.build is None:
            return None
        base = builds.chosen_base_image(None)
        return builds.service_job(spec_, self.model.repository(service), str(wanted), base)

    def _catalogue_job(self, service: str, wanted: semver.Version) -> builds.BuildJob | None:
        """The catalogue's recipe for a version of `service` (None when it lists none)."""
        entry = self.model.project.settings.catalogue.get(service)
        if entry is None:
            return None
        for version in entry.versions:
            if parse_version(version) == wanted:
                return builds.catalogue_jobs(entry, builds.base_image(None), version)[0]
        return None

    def plan_pins(self, version: str | None, sets: Mapping[str, str]) -> list[Resolved]:
        """Validate and resolve `--version` and `--set` before anything is touched; the
        services other ones require come first."""
        requests: dict[str, str] = {}
        if version is not None:
            for name in self.model.primary:
                self.model.service(name)
                requests[name] = version
        for name, spec in sets.items():
            self.model.service(name)
            requests[name] = spec
        resolved = [self.resolve(name, spec) for name, spec in requests.items()]
        self.check_requirements(resolved)
        required = self._required_by(resolved)
        return sorted(resolved, key=lambda r: r.service not in required)

    def locked_rest(self, resolved: list[Resolved]) -> list[Resolved]:
        """In an environment that requires a locked digest, what `up` pins the managed
        services not in `resolved` to: the locked digest of the version each runs now
        (BadInput, with the way to lock it, when the lock lists none)."""
        if not lock_policy.required(self.model):
            return []
        chosen = lock_policy.rest(self.model, {r.service for r in resolved})
        return [self.locked(choice) for choice in chosen]

    def locked(self, chosen: lock_policy.LockedChoice) -> Resolved:
        """A locked image as a target: pinned by digest, to fetch when it is not here
        (BadInput when it is nowhere)."""
        entry = chosen.entry
        fetch = lock_policy.to_fetch(self.model, entry, chosen.service)
        return Resolved(chosen.service, chosen.tag, chosen.pin, fetch=fetch)

    def requirement(self, item: Resolved) -> str | None:
        """The `io.agentlab.requires` label of a resolved image (or of its build recipe)."""
        if item.build is not None:
            return item.build.labels.get(REQUIRES_LABEL)
        if item.fetch is not None:  # not here yet: the lock recorded its labels
            return item.fetch.labels.get(REQUIRES_LABEL)
        info = self.model.image(item.image)
        return info.labels.get(REQUIRES_LABEL) if info else None

    def _required_by(self, resolved: list[Resolved]) -> set[str]:
        names = set()
        for item in resolved:
            text = self.requirement(item)
            if text:
                names.add(parse_requirement(text)[0])
        return names

    def check_requirements(self, resolved: list[Resolved]) -> None:
        """Refuse a change after which some service's image requires another service at a
        version it would not run (`io.agentlab.requires`, e.g. collector>=2.0.0)."""
        planned = {r.service: r for r in resolved}
        after = {
            name: planned[name] if name in planned else self.current(name)
            for name in self.model.managed
        }
        for name, item in after.items():
            text = self.requirement(item) if item else None
            if not text or item is None:
                continue
            needed, wanted = parse_requirement(text)
            other = after.get(needed)
            version = try_version(other.tag) if other else None
            if version is None or not wanted.matches(version):
                changed = item if name in planned else planned.get(needed, item)
                raise BadInput(
                    f"{item.service} {item.tag} requires {text}, but {needed} would run "
                    f"{other.tag if other else 'nothing'}",
                    hint=f"change both together: agentlab up --set {needed}=VERSION "
                    f"--set {changed.service}={changed.tag}"
                    if changed is item
                    else f"roll {item.service} off {item.tag} first",
                )

    def _recipe(self, service: str, image: str) -> builds.BuildJob | None:
        """How to build the image a service names: the catalogue's recipe for its tag,
        else the service's build section (None: neither)."""
        repository, tag = split_image_ref(image)
        wanted = try_version(tag)
        job = self._catalogue_job(service, wanted) if wanted is not None else None
        if job is not None and job.tag == image:
            return job
        spec = self.model.services[service]
        if spec.build is None:
            return None
        return builds.service_job(spec, repository, tag, builds.chosen_base_image(None))

    def current(self, service: str) -> Resolved | None:
        """What a service runs now (its pin, else the compose file's image)."""
        image = self.model.current_image(service)
        return Resolved(service, split_image_ref(image)[1], image) if image else None

    def missing_images(self, resolved: list[Resolved]) -> list[builds.BuildJob]:
        """Build jobs for the images `up` needs besides `resolved` that are not local:
        one the catalogue lists, or of a service with a build section, gets built (agentlab
        builds, so that Compose never does it behind its back), once however many services
        name it; an image nothing builds is BadInput (no pulls)."""
        planned = {r.service for r in resolved}
        managed = set(self.model.managed)
        produced = {r.image for r in resolved if r.build is not None}
        jobs: list[builds.BuildJob] = []
        unbuilt: dict[str, str] = {}  # image -> the first service that only runs it
        for name, spec in self.model.services.items():
            image = self.model.current_image(name) if name in managed else spec.image
            if name in planned or not image or image in produced:
                continue
            if self.model.image(image) is not None:
                continue
            job = self._recipe(name, image)
            if job is None:
                unbuilt.setdefault(image, name)
                continue
            jobs.append(job)
            produced.add(image)
        for image, name in unbuilt.items():
            if image not in produced:
                raise BadInput(
                    f"image {image} of service {name} is not present locally",
                    hint="agentlab images build, or pull it yourself: agentlab never pulls",
                )
        return jobs
