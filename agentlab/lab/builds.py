"""Images: building them with OCI labels, and listing the local ones.

Two kinds of build: a catalogue version (agentlab.yaml: a context, a Dockerfile and
per-version args, built with `docker build`), and a version of a service that Compose
builds from source, built from the service's own `build:` section (`docker compose
build`: context, dockerfile, target, args, secrets) and tagged `<image>:<version>`.
Before anything is built, every base image a Dockerfile names must be local: agentlab
never pulls.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agentlab.common.errors import BadInput, EngineUnavailable
from agentlab.common.events import ProgressSink
from agentlab.common.imagerefs import short_id
from agentlab.engine.model import ServiceSpec
from agentlab.engine.protocol import Engine
from agentlab.engine.registry import RegistryRefused
from agentlab.lab import gitsource, registry
from agentlab.lab.dockerfiles import base_images, frontend, global_arg
from agentlab.lab.model import ProjectModel
from agentlab.project.config import CatalogueEntry
from agentlab.state.lock import project_lock
from agentlab.versions import image_tag, parse_version, sort_tags, try_version

DEFAULT_BASE_IMAGE = "python:3.12-slim"
OCI = "org.opencontainers.image"


@dataclass(frozen=True)
class CatalogueBuild:
    """A catalogue version: `docker build` of `context` with `dockerfile` and `args`."""

    service: str
    version: str
    tag: str
    labels: Mapping[str, str]
    bases: tuple[str, ...]
    context: Path
    args: Mapping[str, str]
    dockerfile: str | None = None
    settable_base: str | None = None  # the base BASE_IMAGE names: the one chosen, else its own
    frontend: str | None = None  # the `# syntax=` line's image


@dataclass(frozen=True)
class ServiceBuild:
    """A version of a service built from its own compose `build:` section, with `args`
    added to the section's own."""

    service: str
    version: str
    tag: str
    labels: Mapping[str, str]
    bases: tuple[str, ...]
    args: Mapping[str, str]
    settable_base: str | None = None  # the base BASE_IMAGE names when agentlab may set it
    frontend: str | None = None  # the `# syntax=` line's image
    overridden: str = ""  # the build section's own VERSION, when agentlab's replaces it


BuildJob = CatalogueBuild | ServiceBuild


def chosen_base_image(given: str | None) -> str | None:
    """The base image the user chose for Dockerfiles that take one: the flag, then
    $AGENTLAB_BASE_IMAGE; None when neither is set."""
    return given or os.environ.get("AGENTLAB_BASE_IMAGE") or None


def base_image(given: str | None) -> str:
    """The base image for the catalogue's Dockerfiles: the one chosen, else the default."""
    return chosen_base_image(given) or DEFAULT_BASE_IMAGE


def oci_labels(service: str, version: str, revision: str, source: str) -> dict[str, str]:
    """The OCI annotations every agentlab-built image carries."""
    return {
        f"{OCI}.version": version,
        f"{OCI}.revision": revision,
        f"{OCI}.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        f"{OCI}.source": source,
        f"{OCI}.title": service,
    }


def _dockerfile(context: Path, dockerfile: str | None) -> str:
    try:
        return (context / (dockerfile or "Dockerfile")).read_text(encoding="utf-8")
    except OSError:
        return ""  # the build itself will say what is wrong


def catalogue_jobs(
    entry: CatalogueEntry, base: str, only_version: str | None = None
) -> list[CatalogueBuild]:
    """Build jobs for a catalogue entry (every version, or one)."""
    revision = gitsource.source_revision(entry.context)
    text = _dockerfile(entry.context, entry.dockerfile)
    jobs = []
    for version, recipe in entry.versions.items():
        if only_version is not None and version != only_version:
            continue
        args = {"VERSION": version, "REVISION": revision, "BASE_IMAGE": base, **recipe.args}
        labels = {
            **oci_labels(entry.service, version, revision, str(entry.context)),
            **recipe.labels,
        }
        jobs.append(
            CatalogueBuild(
                service=entry.service,
                version=version,
                tag=f"{entry.image}:{image_tag(version)}",
                labels=labels,
                bases=tuple(base_images(text, args)),
                context=entry.context,
                args=args,
                dockerfile=entry.dockerfile,
                settable_base=args["BASE_IMAGE"]
                if global_arg(text, "BASE_IMAGE") is not None
                else None,
                frontend=frontend(text),
            )
        )
    return jobs


def service_job(spec: ServiceSpec, repository: str, version: str, base: str | None) -> ServiceBuild:
    """A build job for one version of a service with a compose build section. Its
    Dockerfile gets VERSION (for a semver version: not for `latest`), over the build
    section's own (`overridden` says it: a VERSION meant as a tool's version changes), and
    when it declares a global `ARG BASE_IMAGE` the build section does not set, the `base`
    chosen (the flag, $AGENTLAB_BASE_IMAGE), else its own default (else the default base
    image)."""
    if spec.build is None:
        raise BadInput(f"service '{spec.name}' has no build section", hint="add build: to it")
    context = Path(spec.build.context)
    text = spec.build.inline or _dockerfile(context, spec.build.dockerfile)
    args: dict[str, str] = {}
    labels = oci_labels(spec.name, version, gitsource.source_revision(context), str(context))
    if try_version(version) is None:  # `latest` and other names: no version to give
        del labels[f"{OCI}.version"]
    else:
        args["VERSION"] = version
    declared = global_arg(text, "BASE_IMAGE")  # its default: kept unless a base was chosen
    if declared is not None and "BASE_IMAGE" not in spec.build.args and (base or not declared):
        args["BASE_IMAGE"] = base or DEFAULT_BASE_IMAGE
    own = spec.build.args.get("VERSION", version)
    build_args = {**spec.build.args, **args}  # Compose runs BuildKit: needed stages only
    bases = base_images(text, build_args, spec.build.target, True, spec.build.contexts)
    return ServiceBuild(
        service=spec.name,
        version=version,
        tag=f"{repository}:{image_tag(version)}",
        labels=labels,
        bases=tuple(bases),
        args=args,
        settable_base=args.get("BASE_IMAGE", declared)
        if "BASE_IMAGE" not in spec.build.args
        else None,
        frontend=frontend(text),
        overridden=own if "VERSION" in args and own != version else "",
    )


def check_bases(engine: Engine, jobs: list[BuildJob]) -> None:
    """BadInput naming the first base image of these builds that is not local."""
    for job in jobs:
        missing = [base for base in job.bases if engine.image(base) is None]
        if missing:
            if missing[0] == job.frontend:
                raise BadInput(
                    f"the BuildKit frontend {missing[0]} that {job.service}'s Dockerfile names "
                    "(# syntax=) is not present locally (agentlab never pulls)",
                    hint=f"docker pull {missing[0]}, or remove that line to build with the "
                    "engine's own frontend",
                )
            way = ", or set AGENTLAB_BASE_IMAGE to a local image"
            raise BadInput(
                f"base image {missing[0]} of {job.service} is not present locally "
                "(agentlab never pulls)",
                hint=f"docker pull {missing[0]}{way if missing[0] == job.settable_base else ''}",
            )


def run_jobs(
    engine: Engine, jobs: list[BuildJob], force: bool, progress: ProgressSink
) -> list[BuildJob]:
    """Build what is missing (or everything with force); return the jobs that were built.
    BadInput before any build when a base image is not local."""
    todo = [job for job in jobs if force or engine.image(job.tag) is None]
    check_bases(engine, todo)
    for number, job in enumerate(todo, start=1):
        over = isinstance(job, ServiceBuild) and job.overridden
        note = f" (VERSION={job.version}, over the build section's {over})" if over else ""
        progress(f"[{number}/{len(todo)}] building {job.tag}{note}")
        replaced = engine.image(job.tag) if force else None
        match job:
            case CatalogueBuild():
                engine.build_image(str(job.context), job.tag, job.args, job.labels, job.dockerfile)
            case ServiceBuild():
                engine.build_service(job.service, job.tag, job.args, job.labels, progress)
        if replaced is not None and engine.remove_image_if_unused(replaced.id):
            progress(f"removed the image {job.tag} was before ({short_id(replaced.id)})")
    return todo


def build_missing(
    model: ProjectModel, jobs: list[BuildJob], progress: ProgressSink
) -> list[BuildJob]:
    """Build the images `up` or a rollout needs that are not here (the caller holds the
    project lock); with a registry, push them as `images build` does, so that their
    digests are known (`agentlab lock` right after). The jobs built."""
    built = run_jobs(model.engine, jobs, False, progress)
    for job in built:
        model.forget_image(job.tag)
    if built and registry.settings(model) is not None:
        try:
            where = registry.ready(model, progress)
        except (EngineUnavailable, RegistryRefused) as down:  # the build stands; push later
            progress(f"{down.message}: {len(built)} image(s) not pushed (hint: agentlab "
                     "images push once it runs)")  # fmt: skip
            return built
        for job in built:
            registry.publish(model, where, job.tag, progress)
    return built


def build_images(
    model: ProjectModel,
    version: str | None,
    service: str | None,
    force: bool,
    base: str | None,
    progress: ProgressSink,
    from_git: bool = False,
) -> list[str]:
    """Build the catalogue, or versions of the services Compose builds: `version`, else
    the one git gives each build context (`from_git`). Only what is missing unless
    `force`. With a registry, push each image it lacks. The tags built."""
    if version is not None and from_git:
        raise BadInput("--version and --from-git exclude each other", hint="give one of them")
    catalogue = model.project.settings.catalogue
    wanted = str(parse_version(version)) if version else None
    names = [service] if service else list(catalogue) or model.managed
    jobs: list[BuildJob] = []
    for name in names:
        spec = model.service(name)
        if name in catalogue:
            if from_git:
                raise BadInput(
                    f"{name}'s versions come from the catalogue in agentlab.yaml",
                    hint="build one with --version, or all with no option",
                )
            if wanted and wanted not in catalogue[name].versions:
                known = ", ".join(catalogue[name].versions) or "none"
                raise BadInput(f"{name}'s catalogue in agentlab.yaml has no version {wanted}",
                               hint=f"its versions: {known}")  # fmt: skip
            jobs += catalogue_jobs(catalogue[name], base_image(base), wanted)
        elif spec.build is not None and (wanted or from_git):
            own = wanted or gitsource.version_from_git(Path(spec.build.context))
            jobs.append(service_job(spec, model.repository(name), own, chosen_base_image(base)))
    if not jobs and (wanted or from_git):
        why = (f"{service} has no build: section and no catalogue entry" if service
               else "no managed service has a build: section or a catalogue entry")  # fmt: skip
        raise BadInput(
            f"nothing to build: {why}",
            hint="an image-only service runs the tags you build, pull or load yourself",
        )
    if not jobs:
        raise BadInput(
            "nothing to build",
            hint="give a version (--version 1.2.0 or --from-git) for services with build:, "
            "or a catalogue in agentlab.yaml",
        )
    with project_lock(model.state_dir, "images build"):
        where = registry.ready(model, progress) if registry.settings(model) else None
        built = run_jobs(model.engine, jobs, force, progress)
        if skipped := len(jobs) - len(built):  # asked for: said (up and rollouts say nothing)
            progress(f"{skipped} image(s) already present (use --force to rebuild)")
        if where is not None:
            for job in jobs:
                registry.publish(model, where, job.tag, progress)
    return [job.tag for job in built]


@dataclass(frozen=True)
class ImageRow:
    """One local tag of a managed service, as `images list` shows it."""

    service: str
    tag: str
    image: str
    id: str
    version: str | None
    created: str | None


def _seconds(created: str) -> str | None:
    """The engine's creation time (`2026-12-01T17:57:53.123456789Z`) to the second."""
    return f"{created[:19]}Z" if len(created) >= 19 else None


def list_images(model: ProjectModel) -> list[ImageRow]:
    """Local tags per managed service, semver-sorted within each service."""
    rows = []
    for name in model.managed:
        infos = {info.tag: info for info in model.local_tags(name)}
        for tag in sort_tags(infos):
            info = infos[tag]
            rows.append(
                ImageRow(
                    service=name,
                    tag=tag,
                    image=info.ref,
                    id=short_id(info.id),
                    version=info.labels.get(f"{OCI}.version"),
                    created=info.labels.get(f"{OCI}.created") or _seconds(info.created),
                )
            )
    return rows
