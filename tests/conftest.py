"""Shared fixtures: a real engine check, CLI runner, and per-test compose project names."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "agentlab" / "demo" / "compose.yaml"
# Where the demo lab keeps its state in these tests, in this process and the commands it
# runs ($XDG_STATE_HOME): the user's own state directory is never touched.
STATE_HOME = Path(tempfile.mkdtemp(prefix="agentlab-test-state-"))
os.environ["XDG_STATE_HOME"] = str(STATE_HOME)
WEBAPP = REPO / "tests" / "projects" / "webapp" / "compose.yaml"
# A signal to agentlab, the exit code it ends with, and the words of its one line.
SIGNAL_EXITS = [
    (signal.SIGINT, 130, "interrupted"),
    (signal.SIGTERM, 143, "terminated (SIGTERM)"),
]


def engine_ready() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    done = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=20)
    info = subprocess.run([docker, "info"], capture_output=True, timeout=20)
    return done.returncode == 0 and info.returncode == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Engine tests fail loudly in CI when the engine is missing, and skip elsewhere."""
    engine_items = [item for item in items if "engine" in item.keywords]
    if not engine_items or engine_ready():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("CI has no Docker engine: .ci/run must start one")
    for item in engine_items:
        item.add_marker(pytest.mark.skip(reason="no Docker engine with Compose v2"))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class LabRun:
    """Runs `agentlab -f FILE -p PROJECT ...` in a subprocess, as a user would."""

    compose_file: Path
    project: str
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 300) -> Result:
        cmd = [
            sys.executable,
            "-m",
            "agentlab",
            "-f",
            str(self.compose_file),
            "-p",
            self.project,
            *args,
        ]
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=self.env, timeout=timeout, check=False
        )
        return Result(done.returncode, done.stdout, done.stderr)

    @property
    def state_dir(self) -> Path:
        """agentlab's files for this project: beside a user's compose file, in the per-user
        state directory for the demo lab."""
        if self.compose_file == DEMO:
            return STATE_HOME / "agentlab" / self.project
        return self.compose_file.parent / ".agentlab" / self.project

    def docker(self, *args: str) -> str:
        return subprocess.run(
            ["docker", *args], capture_output=True, text=True, check=True, timeout=60
        ).stdout

    def published(self, service: str, port: int) -> int:
        """The host port `service` publishes `port` on (`docker compose port`)."""
        out = self.docker("compose", "-p", self.project, "port", service, str(port))
        return int(out.strip().rsplit(":", 1)[1])

    def containers(self) -> list[str]:
        """Names of every container of this project, running or not."""
        out = self.docker(
            "ps",
            "-a",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--format",
            "{{.Names}}",
        )
        return sorted(out.split())


# agentlab commands a test runs in the background (tests/integration/test_canary.py's
# Background): killed before its lab goes down, so that none starts replicas after the down.
BACKGROUND: list[subprocess.Popen[str]] = []


def stop_background() -> None:
    """Kill the background commands still running."""
    while BACKGROUND:
        process = BACKGROUND.pop()
        if process.poll() is None:
            process.kill()
            process.wait(30)


def lab_run(compose_file: Path, prefix: str, env: dict[str, str] | None = None) -> Iterator[LabRun]:
    """A LabRun on a fresh project name; its containers, volumes, state and the images
    Compose would name after it (`<project>-<service>:*`) go afterwards."""
    project = f"{prefix}-{uuid.uuid4().hex[:8]}"
    lab = LabRun(compose_file, project, {**os.environ, "AGENTLAB_GATEWAY_PORT": "0",
                                         "AGENTLAB_REGISTRY_PORT": "0", **(env or {})})  # fmt: skip
    try:
        yield lab
    finally:
        stop_background()
        registry = registry_address(lab.state_dir / "override.yaml")
        subprocess.run(
            [
                "docker",
                "compose",
                "-f",
                str(compose_file),
                "-p",
                project,
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "2",
            ],
            capture_output=True,
            timeout=120,
            check=False,
            env=lab.env,
        )
        shutil.rmtree(lab.state_dir, ignore_errors=True)
        remove_volumes(project)  # the registry's too: down without the override keeps it
        if registry is not None:  # the references to the lab's registry
            remove_references(f"{registry}/")
        images = subprocess.run(
            ["docker", "image", "ls", "-q", "--filter", f"reference={project}-*"],
            capture_output=True, text=True, timeout=60, check=False,
        ).stdout.split()  # fmt: skip
        if images:
            subprocess.run(["docker", "image", "rm", "-f", *sorted(set(images))],
                           capture_output=True, timeout=120, check=False)  # fmt: skip


def remove_volumes(project: str) -> None:
    """The volumes of `project` and of its environments (`<project>-<env>`), e.g. a lab
    registry's storage, which `compose down -v` of the user's files alone does not name."""
    listed = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"name={project}"],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    names = listed.stdout.split()
    ours = [name for name in names if name.startswith((f"{project}_", f"{project}-"))]
    if ours:
        subprocess.run(["docker", "volume", "rm", "-f", *ours],
                       capture_output=True, timeout=60, check=False)  # fmt: skip


def kill_while_out_of_the_name(lab: LabRun, service: str, version: str) -> None:
    """Roll `service` to `version` with a 60 s deregistration delay in a background
    agentlab, and SIGKILL it once a replica has left the service's name (mid-drain)."""
    command = [sys.executable, "-m", "agentlab", "-f", str(lab.compose_file), "-p",
               lab.project, "rollout", service, "--to", version,
               "--deregistration-delay", "60s"]  # fmt: skip
    out = lab.state_dir.parent / f"{lab.project}.out"
    with out.open("w") as sink:
        rollout = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                   env=lab.env)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while f"left the name {service}" not in out.read_text():
            assert rollout.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        status = lab("status")  # while it runs, it is not said to be interrupted
        assert "(out of its name: a rollout of it is under way)" in status.out, status.out
        rollout.send_signal(signal.SIGKILL)
        rollout.wait(30)
    finally:
        out.unlink(missing_ok=True)


def registry_address(override: Path) -> str | None:
    """127.0.0.1:PORT of the lab's registry, from agentlab's override (None: none)."""
    text = override.read_text(encoding="utf-8") if override.exists() else ""
    found = re.search(r"127\.0\.0\.1:(\d+):5000", text)
    return f"127.0.0.1:{found.group(1)}" if found else None


def remove_references(prefix: str) -> None:
    """Remove the tags and digest references of the images under `prefix` (a registry's
    `127.0.0.1:PORT/`); images that other tags keep stay."""
    out = subprocess.run(
        ["docker", "image", "ls", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"],
        capture_output=True, text=True, timeout=60, check=False,
    ).stdout  # fmt: skip
    refs = []
    for line in out.splitlines():
        repository, tag, digest = line.split()
        if repository.startswith(prefix):
            refs += [f"{repository}:{tag}"] if tag != "<none>" else []
            refs += [f"{repository}@{digest}"] if digest != "<none>" else []
    if refs:
        subprocess.run(["docker", "image", "rm", *refs], capture_output=True, timeout=120,
                       check=False)  # fmt: skip


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A 127.0.0.1 port something listens on for the test."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.fixture
def demo_lab() -> Iterator[LabRun]:
    yield from lab_run(DEMO, "t-demo")


@pytest.fixture
def webapp_lab() -> Iterator[LabRun]:
    """The webapp project, its cache on an ephemeral host port (another copy of it on the
    engine, a developer's, holds 16379: a test wanting that port sets it)."""
    yield from lab_run(WEBAPP, "t-web", {"WEBAPP_CACHE_PORT": "0"})


@pytest.fixture
def layered(webapp_lab: LabRun) -> LabRun:
    """webapp at 1.0.0, web behind the traffic layer."""
    webapp_lab.env["WEBAPP_CACHE_PORT"] = "0"
    webapp_lab.env["AGENTLAB_PROXY_IMAGE"] = base_image_env().get(
        "AGENTLAB_PROXY_IMAGE", "haproxy:2.6"
    )
    up = webapp_lab("up", "--version", "1.0.0", "--traffic-layer", "web")
    assert up.code == 0, up.err
    return webapp_lab


def base_image_env() -> dict[str, str]:
    """AGENTLAB_BASE_IMAGE and AGENTLAB_PROXY_IMAGE as scripts/test.sh sets them; else
    the images present (the official ones first, then the offline builds)."""
    env = dict(os.environ)
    for variable, candidates in (
        ("AGENTLAB_BASE_IMAGE", ("python:3.12-slim", "agentlab/base:offline")),
        ("AGENTLAB_PROXY_IMAGE", ("haproxy:2.6", "agentlab/haproxy:offline")),
        ("AGENTLAB_REGISTRY_IMAGE", ("registry:2", "agentlab/registry:offline")),
    ):
        if env.get(variable):
            continue
        for candidate in candidates:
            probe = subprocess.run(
                ["docker", "image", "inspect", candidate], capture_output=True, check=False
            )
            if probe.returncode == 0:
                env[variable] = candidate
                break
    return env


@pytest.fixture(scope="session")
def proxy_image() -> None:
    """The proxy's image is local (scripts/lib.sh builds one offline)."""
    image = base_image_env().get("AGENTLAB_PROXY_IMAGE") or "haproxy:2.6"
    present = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
    if present.returncode != 0:
        pytest.fail(f"the proxy image {image} is missing: run scripts/lib.sh ensure_proxy_image")


@pytest.fixture(scope="session")
def demo_images() -> None:
    """Build the demo catalogue once (only what is missing), on a project of its own: the
    demo lab's registry runs for the build, and goes with the project afterwards."""
    for lab in lab_run(DEMO, "t-demo-images", base_image_env()):
        done = lab("images", "build", timeout=900)
        assert done.code == 0, done.err


@pytest.fixture(scope="session")
def webapp_images() -> None:
    """The second project's images: web 1.0.0/1.1.0 built by agentlab from the compose build
    context; web 1.2.0 (never healthy) and cache by hand, as a user would."""
    env = base_image_env()
    for version in ("1.0.0", "1.1.0"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "agentlab",
                "-f",
                str(WEBAPP),
                "images",
                "build",
                "--service",
                "web",
                "--version",
                version,
                "--force",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    base = f"BASE_IMAGE={env['AGENTLAB_BASE_IMAGE']}"
    for tag, context, extra in (
        (
            "agentlab-test/web:1.2.0",
            "web",
            ["--build-arg", "VERSION=1.2.0", "--build-arg", "HEALTHY=false"],
        ),
        (
            "agentlab-test/web:1.3.0",  # 5 % errors: a canary's gate must catch it
            "web",
            ["--build-arg", "VERSION=1.3.0", "--build-arg", "ERROR_EVERY=20"],
        ),
        ("agentlab-test/cache:1.0.0", "cache", ["--build-arg", "VERSION=1.0.0"]),
    ):
        present = subprocess.run(["docker", "image", "inspect", tag], capture_output=True)
        if present.returncode != 0:
            subprocess.run(
                [
                    "docker",
                    "build",
                    "-q",
                    "--build-arg",
                    base,
                    *extra,
                    "-t",
                    tag,
                    str(WEBAPP.parent / context),
                ],
                check=True,
                capture_output=True,
                timeout=900,
            )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(STATE_HOME, ignore_errors=True)
