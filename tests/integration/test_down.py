"""`agentlab down` on a real engine takes every container of the project, those of a
profile no longer active too (one started while its profile was active kept running,
and the network with it, while down said the project was down)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LabRun, base_image_env, lab_run

pytestmark = pytest.mark.engine

COMPOSE = """\
services:
  app:
    image: ${BASE_IMAGE}
    pull_policy: never
    init: true
    command: ["sleep", "3600"]
  debugger:
    image: ${BASE_IMAGE}
    pull_policy: never
    init: true
    command: ["sleep", "3600"]
    profiles: [debug]
"""


@pytest.fixture
def profiled_lab(tmp_path: Path) -> Iterator[LabRun]:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    base = {"BASE_IMAGE": base_image_env()["AGENTLAB_BASE_IMAGE"]}
    yield from lab_run(tmp_path / "compose.yaml", "t-down", base)


def test_down_takes_the_containers_of_inactive_profiles_too(profiled_lab: LabRun) -> None:
    lab = profiled_lab
    lab.env["COMPOSE_PROFILES"] = "debug"
    up = lab("up")
    assert up.code == 0, up.err
    assert [name.split("-")[-2] for name in lab.containers()] == ["app", "debugger"]
    del lab.env["COMPOSE_PROFILES"]
    down = lab("down")
    assert down.code == 0, down.err
    assert lab.containers() == []
    networks = lab.docker("network", "ls", "-q", "--filter", f"name={lab.project}_")
    assert networks.split() == []
