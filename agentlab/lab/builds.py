"""Images: building them with OCI labels (the lab's catalogue, or one version of a
service's build context), and listing the local ones."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agentlab.common.errors import BadInput
from agentlab.common.events import ProgressSink
from agentlab.common.imagerefs import short_id
from agentlab.engine.protocol import Engine
from agentlab.lab.model import ProjectModel
from agentlab.project.config import CatalogueEntry
from agentlab.state.lock import project_lock
from agentlab.versions import parse_version, sort_tags

DEFAULT_BASE_IMAGE = "python:3.12-slim"
OCI = "org.opencontainers.image"


@dataclass(frozen=True)
class BuildJob:
    """One image to build: where from, which tag, with which args and labels."""

    service: str
    version: str
    tag: str
    context: Path
    args: Mapping[str, str]
    labels: Mapping[str, str]
    dockerfile: str | None = None


def base_image(given: str | None) -> str:
    """The base image for lab Dockerfiles: flag, then $AGENTLAB_BASE_IMAGE, then the default."""
    return given or os.environ.get("AGENTLAB_BASE_IMAGE") or DEFAULT_BASE_IMAGE


def source_revision(directory: Path) -> str:
    """The git commit of the lab sources, or `unknown` outside a checkout."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def oci_labels(service: str, version: str, revision: str, source: str) -> dict[str, str]:
    """The OCI annotations every agentlab-built image carries."""
    return {
        f"{OCI}.version": version,
        f"{OCI}.revision": revision,
        f"{OCI}.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        f"{OCI}.source": source,
        f"{OCI}.title": service,
    }


def uses_base_arg(context: Path, dockerfile: str | None) -> bool:
    """Whether the Dockerfile declares `ARG BASE_IMAGE` (so we may pass one)."""
    path = context / (dockerfile or "Dockerfile")
    try:
        return "ARG BASE_IMAGE" in path.read_text(encoding="utf-8")
    except OSError:
        return False


def catalogue_jobs(
    entry: CatalogueEntry, base: str, only_version: str | None = None
) -> list[BuildJob]:
    """Build jobs for a catalogue entry (every version, or one)."""
    revision = source_revision(entry.context)
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
            BuildJob(
                entry.service,
                version,
                f"{entry.image}:{version}",
                entry.context,
                args,
                labels,
                entry.dockerfile,
            )
        )
    return jobs


def context_job(
    service: str,
    repository: str,
    version: str,
    context: Path,
    base: str,
    build_args: Mapping[str, str] | None = None,
    dockerfile: str | None = None,
) -> BuildJob:
    """A build job for one version of a user service that has a compose build context."""
    revision = source_revision(context)
    args = {"VERSION": version, **(build_args or {})}
    if uses_base_arg(context, dockerfile):
        args["BASE_IMAGE"] = base
    return BuildJob(
        service,
        version,
        f"{repository}:{version}",
        context,
        args,
        oci_labels(service, version, revision, str(context)),
        dockerfile,
    )


def run_jobs(
    engine: Engine, jobs: list[BuildJob], force: bool, base: str, progress: ProgressSink
) -> list[BuildJob]:
    """Build what is missing (or everything with force); return the jobs that were built."""
    todo = [job for job in jobs if force or engine.image(job.tag) is None]
    needs_base = any(job.args.get("BASE_IMAGE") == base for job in todo)
    if needs_base and engine.image(base) is None:
        raise BadInput(
            f"base image {base} is not present locally (agentlab never pulls)",
            hint="docker pull it, or set AGENTLAB_BASE_IMAGE (scripts/lab-up.sh makes one)",
        )
    for number, job in enumerate(todo, start=1):
        progress(f"[{number}/{len(todo)}] building {job.tag}")
        replaced = engine.image(job.tag) if force else None
        engine.build_image(str(job.context), job.tag, job.args, job.labels, job.dockerfile)
        if replaced is not None and engine.remove_image_if_unused(replaced.id):
            progress(f"removed the image {job.tag} was before ({short_id(replaced.id)})")
    skipped = len(jobs) - len(todo)
    if skipped:
        progress(f"{skipped} image(s) already present (use --force to rebuild)")
    return todo


def build_images(
    model: ProjectModel,
    version: str | None,
    service: str | None,
    force: bool,
    base: str | None,
    progress: ProgressSink,
) -> list[str]:
    """Build the catalogue (or one service/version); only what is missing unless force.
    The tags built."""
    base_ref = base_image(base)
    catalogue = model.project.settings.catalogue
    wanted = version.lstrip("vV") if version else None
    if wanted is not None:
        parse_version(wanted)
    names = [service] if service else list(catalogue) or model.managed
    jobs: list[BuildJob] = []
    for name in names:
        spec = model.service(name)
        if name in catalogue:
            jobs += catalogue_jobs(catalogue[name], base_ref, wanted)
        elif wanted is not None and spec.build_context:
            context = Path(spec.build_context)
            jobs.append(context_job(name, model.repository(name), wanted, context, base_ref))
    if not jobs:
        raise BadInput(
            "nothing to build" + (f" for version {version}" if version else ""),
            hint="add a catalogue to agentlab.yaml, or a build: context to the service",
        )
    with project_lock(model.state_dir, "images build"):
        built = run_jobs(model.engine, jobs, force, base_ref, progress)
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
                    created=info.labels.get(f"{OCI}.created"),
                )
            )
    return rows
