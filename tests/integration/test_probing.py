"""agentlab's own health probes on the real engine (rollout/probing.py): a new replica is
ready once its healthcheck passes when agentlab runs it, before Docker's health has said
anything; on the webapp project (not the demo)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import WEBAPP, LabRun, lab_run

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("webapp_images")]


def webapp_file(path: Path, interval: str) -> Path:
    """The webapp project's compose file with web's healthcheck interval changed."""
    text = WEBAPP.read_text(encoding="utf-8")
    text = text.replace("context: web", f"context: {WEBAPP.parent / 'web'}")
    assert "      interval: 1s\n" in text
    path.write_text(text.replace("      interval: 1s\n", f"      interval: {interval}\n"))
    return path


@pytest.fixture
def probe_lab(tmp_path: Path) -> Iterator[LabRun]:
    compose = webapp_file(tmp_path / "compose.yaml", "1s")
    yield from lab_run(compose, "t-probe", {"WEBAPP_CACHE_PORT": "0"})  # 16379 may be taken


def test_a_new_replica_is_ready_by_agentlabs_probe_before_dockers_health(
    probe_lab: LabRun,
) -> None:
    assert probe_lab("up", "--version", "1.0.0").code == 0
    # Docker now probes new replicas first 15 s after they start: whatever makes them
    # ready during the rollout is agentlab's probe; the rollout ends once Docker agrees
    webapp_file(probe_lab.compose_file, "15s")
    rolled = probe_lab("rollout", "web", "--to", "1.1.0", "--json")
    assert rolled.code == 0, rolled.err
    events = [json.loads(line) for line in rolled.out.splitlines()]
    ready = [e for e in events if e["event"] == "replica_ready"]
    assert [e["by"] for e in ready] == ["probe"] * 3
    kinds = [e["event"] for e in events if e["event"] in ("replica_ready", "replica_joined")]
    assert kinds == ["replica_joined", "replica_ready"] * 3  # in the name once ready
    ids = {e["id"] for e in ready}
    health = probe_lab.docker("inspect", "-f", "{{.Id}} {{.State.Health.Status}}", *ids)
    assert sorted(health.split()[1::2]) == ["healthy"] * 3  # what status says too
