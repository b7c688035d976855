"""Image builds for the Compose adapter: a context's plain build through python-on-whales,
and a service's own build section by `compose build` with one more file, run here (its
processes end with agentlab's command)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentlab.common.events import ProgressSink
from agentlab.common.files import write_atomically
from agentlab.engine.cli import docker_cli, failure

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
    compose_args: Sequence[str],
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
    args = [*compose_args, "-f", str(build_file), "build", service]
    try:
        code, output = _stream(args, progress)
    finally:
        build_file.unlink(missing_ok=True)
    if code != 0:
        raise failure(args, output, what=f"build {tag}")


def _stream(args: Sequence[str], progress: ProgressSink) -> tuple[int, str]:
    """Run the docker CLI in a process group of its own; BuildKit's plain output (stderr
    and stdout) read line by line, each step's first line (`#7 [builder 2/4] RUN ...`) to
    `progress`. Its exit code and output. Stopped here (Ctrl-C, SIGTERM), it ends the
    group: left alone, `docker compose` and its plugin finished the build after agentlab
    said it was interrupted."""
    process = subprocess.Popen(
        [docker_cli(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    kept: deque[str] = deque(maxlen=200)  # a failure's text: its last lines
    assert process.stdout is not None
    try:
        for raw in process.stdout:
            line = raw.strip()
            kept.append(line)
            if _STEP.match(line):
                progress(f"   {line}")
        return process.wait(), "\n".join(kept)
    except BaseException:
        _end_group(process)
        raise
    finally:
        process.stdout.close()


def _end_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the process's group (Compose cancels the build), SIGKILL after 10 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue
