"""Image builds for the Compose adapter, through python-on-whales: a context's plain
build, and a service's own build section by `compose build` with one more file."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentlab.common.events import ProgressSink
from agentlab.common.files import write_atomically

if TYPE_CHECKING:
    from python_on_whales import DockerClient

# runs a python-on-whales call on the project's files (and extra ones), one-line errors
Whales = Callable[[str, Callable[["DockerClient"], Any], Sequence[Path]], Any]

_STEP = re.compile(r"#\d+ \[[^\]]+\] ")


def build_image(
    whales: Whales,
    context: str,
    tag: str,
    build_args: Mapping[str, str],
    labels: Mapping[str, str],
    dockerfile: str | None,
) -> None:
    """The classic builder on `context`; it never pulls."""
    whales(
        f"build {tag}",
        lambda c: c.image.legacy_build(
            context,
            build_args=dict(build_args),
            labels=dict(labels),
            tags=[tag],
            file=dockerfile,
            pull=False,
        ),
        (),
    )


def build_service(
    whales: Whales,
    directory: Path,
    service: str,
    tag: str,
    build_args: Mapping[str, str],
    labels: Mapping[str, str],
    progress: ProgressSink,
) -> None:
    """`compose build` with one more file (written in `directory`) that names the image and
    adds the args and labels (Compose merges them into the service's own build section);
    BuildKit's steps go to `progress`. Compose's build never pulls unless asked to."""
    extra = {"services": {service: {"image": tag, "build": {
        "args": dict(build_args), "labels": dict(labels)}}}}  # fmt: skip
    build_file = directory / f".build-{service}.yaml"
    write_atomically(build_file, json.dumps(extra))  # JSON is YAML
    try:
        whales(
            f"build {tag}",
            lambda client: _report_steps(
                client.compose.build([service], stream_logs=True), progress
            ),
            [build_file],
        )
    finally:
        build_file.unlink(missing_ok=True)


def _report_steps(stream: Iterable[tuple[str, bytes]] | None, progress: ProgressSink) -> None:
    """BuildKit's plain output: each step's first line (`#7 [builder 2/4] RUN ...`) goes
    to `progress`; the rest is read and dropped (a failure's text comes with the error)."""
    for _, raw in stream or ():
        line = raw.decode(errors="replace").strip()
        if _STEP.match(line):
            progress(f"   {line}")
