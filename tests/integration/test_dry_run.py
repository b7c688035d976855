"""`up --dry-run` on the real engine, on a stopped webapp project: the plan (starts and a
build from web's build section), the same refusal as `up`, and nothing created: no
container, network, image or file. `snapshot` is what the dry runs in other tests (a
running webapp, the demo lab's environments) compare before and after."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LabRun, base_image_env, lab_run

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("webapp_images")]


def snapshot(lab: LabRun, project: str, state: Path) -> dict[str, Any]:
    """A project's containers (id, image, state), networks and agentlab files (override,
    history, project lock; not the cache of `compose config`)."""
    label = f"label=com.docker.compose.project={project}"
    containers = lab.docker(
        "ps", "-a", "--filter", label, "--format", "{{.ID}} {{.Image}} {{.State}}"
    )
    networks = lab.docker("network", "ls", "-q", "--filter", label)
    files = {
        str(path.relative_to(state)): path.read_bytes()
        for path in (state.rglob("*") if state.exists() else ())
        if path.is_file() and path.name != "compose-config.json"
    }
    return {"containers": sorted(containers.splitlines()), "networks": sorted(networks.split()),
            "files": files}  # fmt: skip


def image_here(ref: str) -> bool:
    found = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False)
    return found.returncode == 0


def test_dry_run_of_up_on_a_stopped_project_creates_nothing(webapp_lab: LabRun) -> None:
    lab = webapp_lab
    lab.env.update({"WEBAPP_CACHE_PORT": "0", **base_image_env()})  # a base to build on
    version = f"1.9.{uuid.uuid4().int % 10**6}"  # buildable from web's build section, not built
    before = snapshot(lab, lab.project, lab.state_dir)
    assert before["containers"] == [] and before["networks"] == []
    planned = lab("up", "--set", f"web={version}", "--dry-run")
    assert planned.code == 0, planned.err
    lines = planned.out.splitlines()
    assert lines[0] == f"plan: up {lab.project} (dry run: nothing is changed)"
    assert f"  web: start 1.0.0 -> {version} [agentlab-test/web:{version}]" in lines
    assert "  cache: start 1.0.0 (unchanged) [agentlab-test/cache:1.0.0]" in lines
    assert f"build agentlab-test/web:{version} (web's build section)" in lines
    as_json = lab("up", "--version", "1.0.0", "--dry-run", "--json")
    assert as_json.code == 0, as_json.err
    services = {s["service"]: s for s in as_json.json()["services"]}
    assert services["web"]["action"] == "start" and services["web"]["to_version"] == "1.0.0"
    assert snapshot(lab, lab.project, lab.state_dir) == before
    assert not image_here(f"agentlab-test/web:{version}")  # nothing built

    dry = lab("up", "--set", "web=^7", "--dry-run")  # what up refuses, the dry run refuses
    real = lab("up", "--set", "web=^7")
    assert (dry.code, dry.err) == (real.code, real.err) == (2, real.err)
    assert real.err.startswith("error: no local image of web matches ^7")
    assert snapshot(lab, lab.project, lab.state_dir) == before


def engine_api() -> tuple[int, ...]:
    found = subprocess.run(["docker", "version", "--format", "{{.Server.APIVersion}}"],
                           capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    return tuple(int(part) for part in found.stdout.strip().split("."))


START_INTERVAL = """services:
  app:
    image: {base}
    pull_policy: never
    command: ["python3", "-m", "http.server", "8000"]
    healthcheck:
      test: ["CMD", "python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/')"]
      interval: 5s
      start_interval: 1s
      start_period: 10s
"""


@pytest.mark.skipif(engine_api() >= (1, 44), reason="this engine runs start_interval")
def test_up_refuses_start_interval_on_an_engine_before_25_and_creates_nothing(
    tmp_path: Path,
) -> None:
    """Compose created the project's network, then failed at the container ("feature
    require Docker Engine v25"): `up` refuses first, exit 2, its dry run too."""
    compose = tmp_path / "compose.yaml"
    compose.write_text(START_INTERVAL.format(base=base_image_env()["AGENTLAB_BASE_IMAGE"]))
    for lab in lab_run(compose, "t-interval"):
        before = snapshot(lab, lab.project, lab.state_dir)
        for args in (["up"], ["up", "--dry-run"]):
            refused = lab(*args)
            assert refused.code == 2, refused.err
            assert refused.err.startswith("error: app: healthcheck.start_interval needs Docker "
                                          "Engine 25 or later")  # fmt: skip
        assert snapshot(lab, lab.project, lab.state_dir) == before
