"""A project as a new user brings it (tests/projects/sidecar), run from its directory with
no -f or -p: the project is named by its .env, an image one service builds and another
only runs is built once, a sidecar in app's network namespace follows app's new container
after a rollout, a reader that goes away does not interrupt the rollout, a subdirectory
finds the project, and a UDP port keeps the traffic layer away."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, LabRun, Result, base_image_env, lab_run

pytestmark = pytest.mark.engine
PROJECT = REPO / "tests" / "projects" / "sidecar"


@pytest.fixture
def sidecar_lab(tmp_path: Path) -> Iterator[LabRun]:
    """A copy of the project in a directory Compose could not take as a name as it is,
    its .env naming the project (a fresh name each time)."""
    directory = tmp_path / "Sidecar.Lab"
    shutil.copytree(PROJECT, directory)
    env = {"AGENTLAB_PROXY_IMAGE": base_image_env().get("AGENTLAB_PROXY_IMAGE", "haproxy:2.6")}
    for lab in lab_run(directory / "docker-compose.yml", "t-unseen", env):
        base = base_image_env()["AGENTLAB_BASE_IMAGE"]
        (directory / ".env").write_text(f"COMPOSE_PROJECT_NAME={lab.project}\nBASE_IMAGE={base}\n")
        yield lab


def here(lab: LabRun, *args: str, within: str = "") -> Result:
    """`agentlab ARGS` run in the project's directory (or its subdirectory `within`), as
    its user would: no -f, no -p."""
    done = subprocess.run([sys.executable, "-m", "agentlab", *args], capture_output=True,
                          text=True, env=lab.env, cwd=lab.compose_file.parent / within,
                          timeout=300, check=False)  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


def inspect(lab: LabRun, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(lab.docker("container", "inspect", name))[0]
    return found


def sidecar_sees(lab: LabRun, version: str, settle: float = 30.0) -> None:
    """Wait until the sidecar's own log says it reached app `version` on 127.0.0.1."""
    deadline = time.monotonic() + settle
    wanted = f"sees app {version}"
    while wanted not in (logs := lab.docker("logs", "--tail", "3", f"{lab.project}-metrics-1")):
        assert time.monotonic() < deadline, logs
        time.sleep(0.2)


def test_a_users_own_project_with_a_sidecar_from_its_directory(sidecar_lab: LabRun) -> None:
    lab = sidecar_lab
    up = here(lab, "up")
    assert up.code == 0, up.err
    assert up.err.count("building ") == 1 and f"building {lab.project}-app:1.0.0" in up.err
    listed = subprocess.run(["docker", "compose", "ps", "-q"], capture_output=True, text=True,
                            cwd=lab.compose_file.parent, env=lab.env, check=True)  # fmt: skip
    assert len(listed.stdout.split()) == 2  # Compose, from the same .env, sees agentlab's lab
    sidecar_sees(lab, "1.0.0")

    built = here(lab, "images", "build", "--service", "app", "--version", "1.1.0")
    assert built.code == 0, built.err
    planned = here(lab, "up", "--set", "app=1.1.0", "--dry-run")  # names the sidecar too
    assert planned.code == 0, planned.err
    assert (
        "  metrics: running, recreated 1.0.0 (it joins app's network namespace, whose "
        "containers change: " in planned.out
    ), planned.out
    rollout = subprocess.Popen([sys.executable, "-m", "agentlab", "rollout", "app", "--to",
                                "1.1.0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=lab.env, cwd=lab.compose_file.parent)  # fmt: skip
    assert rollout.stdout is not None and rollout.stdout.readline().startswith(b"rollout app")
    rollout.stdout.close()  # `| head -1`: the reader goes away mid-rollout
    _, err = rollout.communicate(timeout=300)
    assert rollout.returncode == 0, err.decode()
    start, revision = here(lab, "history", "app", "--json", within="app").json()  # as Compose
    assert (start["version"], start["cause"]) == ("1.0.0", "running before its first rollout")
    assert (revision["version"], revision["outcome"]) == ("1.1.0", "complete")

    [app_name] = [name for name in lab.containers() if "-app-" in name]
    app, sidecar = inspect(lab, app_name), inspect(lab, f"{lab.project}-metrics-1")
    assert sidecar["HostConfig"]["NetworkMode"] == f"container:{app['Id']}"
    assert sidecar["State"]["Running"]
    sidecar_sees(lab, "1.1.0")

    layered = here(lab, "up", "--traffic-layer", "app")
    assert layered.code == 2
    assert layered.err.strip().splitlines() == [
        "error: app publishes 9000/udp: the traffic layer proxies TCP only, and would drop it "
        "(hint: publish it from another service, or leave app out of the traffic layer)"
    ]
    assert not [name for name in lab.containers() if "agentlab-proxy" in name]
    assert here(lab, "down", "--volumes").code == 0
    assert lab.containers() == []
