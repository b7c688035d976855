"""A one-shot job on a real engine: a migration that another service waits for
(`depends_on` with `condition: service_completed_successfully`) exits 0 once done. `up`
is done (it failed, naming the exited job), status says job, a rollout of it is refused
before anything changes, and `up --set` runs it again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LabRun, base_image_env, lab_run

pytestmark = pytest.mark.engine

COMPOSE = """\
services:
  migrate:
    image: ${JOB_IMAGE}:1.0.0
    pull_policy: never
    command: ["python3", "-c", "import time; time.sleep(0.5); print('migrated')"]
  web:
    image: ${BASE_IMAGE}
    pull_policy: never
    command: ["python3", "-m", "http.server", "9000"]
    depends_on:
      migrate:
        condition: service_completed_successfully
"""


@pytest.fixture
def job_lab(tmp_path: Path) -> Iterator[LabRun]:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    base = base_image_env()["AGENTLAB_BASE_IMAGE"]
    for lab in lab_run(tmp_path / "compose.yaml", "t-job"):
        image = f"{lab.project}-migrate"
        for version in ("1.0.0", "1.1.0"):
            lab.docker("tag", base, f"{image}:{version}")
        (tmp_path / ".env").write_text(f"BASE_IMAGE={base}\nJOB_IMAGE={image}\n")
        yield lab


def test_a_job_that_exits_0_is_done(job_lab: LabRun) -> None:
    lab = job_lab
    up = lab("up")
    assert up.code == 0, up.err
    services = {s["service"]: s for s in lab("status", "--json").json()["services"]}
    assert services["migrate"]["job"] and not services["web"]["job"]
    assert [r["state"] for r in services["migrate"]["replicas"]] == ["exited"]
    assert lab("status").out.splitlines()[2].startswith("migrate (job)")
    before = lab.containers()
    refused = lab("rollout", "migrate", "--to", "1.1.0")
    assert refused.code == 2, refused.err
    assert "migrate is a job" in refused.err and "up --set migrate=1.1.0" in refused.err
    assert lab.containers() == before
    scaled = lab("scale", "migrate", "2")  # ran it again, failed on its exit 0, kept 2
    assert scaled.code == 2, scaled.err
    assert "migrate is a job" in scaled.err and "scale keeps replicas running" in scaled.err
    assert lab.containers() == before
    override = lab.state_dir / "override.yaml"
    assert not override.exists() or "migrate" not in override.read_text()
    again = lab("up", "--set", "migrate=1.1.0")
    assert again.code == 0, again.err
    [migrate] = lab("status", "--json").json()["services"][0]["replicas"]
    assert (migrate["tag"], migrate["state"]) == ("1.1.0", "exited")
