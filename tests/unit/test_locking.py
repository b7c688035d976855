"""`agentlab lock` and `up --locked` on the in-memory engine: what is locked, and the
refusals that come before any change."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import BadInput
from agentlab.engine.fake import FakeEngine
from agentlab.lab.facade import Lab
from agentlab.state.lockfile import read_lockfile
from tests.unit.test_lab_facade import make_facade

DIGEST = "sha256:" + "d" * 64


@pytest.fixture
def fake() -> FakeEngine:
    engine = FakeEngine(nap=0.0)
    engine.add_image("lab/agent:1.0.0", digest=DIGEST, labels={"io.agentlab.requires": "x>=1",
                                                                "other": "not locked"})  # fmt: skip
    engine.add_image("lab/agent:1.1.0")  # built here, never pushed: no digest
    engine.add_service("agent", "lab/agent:1.0.0", replicas=2)
    return engine


@pytest.fixture
def lab(tmp_path: Path, fake: FakeEngine) -> Lab:
    return make_facade(tmp_path, fake)


def test_lock_records_version_digest_and_labels(lab: Lab, tmp_path: Path) -> None:
    path, services = lab.lock()
    assert path == tmp_path / "agentlab.lock"
    lock = read_lockfile(path)
    assert lock is not None and lock.section("default") == services
    agent = services["agent"]
    assert (agent.version, agent.digest) == ("1.0.0", DIGEST)
    assert agent.image == f"lab/agent@{DIGEST}"
    assert agent.labels == {"org.opencontainers.image.version": "1.0.0",
                            "io.agentlab.requires": "x>=1"}  # fmt: skip


def test_lock_refuses_an_image_without_a_digest(tmp_path: Path, fake: FakeEngine) -> None:
    lab = make_facade(tmp_path, fake, registry={"port": 5000})
    lab.rollout("agent", "1.1.0")
    lab.reload()
    with pytest.raises(BadInput) as raised:
        lab.lock()
    assert "agent 1.1.0 has no digest in the registry" in raised.value.message
    assert "images push --service agent" in raised.value.hint
    assert not (tmp_path / "agentlab.lock").exists()


def test_lock_without_a_registry_says_so_first(lab: Lab, tmp_path: Path) -> None:
    # it said `images push`, which refused: the lab has no registry to push to
    lab.rollout("agent", "1.1.0")
    lab.reload()
    with pytest.raises(BadInput) as raised:
        lab.lock()
    assert raised.value.message == (
        "this lab has no registry: lock takes digests from one (agent 1.1.0 has none)"
    )
    assert raised.value.hint.startswith("add `registry: {port: 5000}` to agentlab.yaml")
    assert not (tmp_path / "agentlab.lock").exists()


def test_up_locked_without_a_lock_file_is_bad_input(lab: Lab, fake: FakeEngine) -> None:
    with pytest.raises(BadInput) as raised:
        lab.up(None, {}, 5.0, locked=True)
    assert "agentlab lock" in raised.value.hint
    assert not fake.called("up")


def test_up_locked_refuses_a_digest_that_is_nowhere_before_any_change(
    lab: Lab, fake: FakeEngine, tmp_path: Path
) -> None:
    lab.lock()
    path = tmp_path / "agentlab.lock"
    path.write_text(path.read_text().replace("lab/agent@", "registry.example/lab/agent@"))
    override = lab.override_path.read_text() if lab.override_path.exists() else None
    with pytest.raises(BadInput) as raised:
        lab.up(None, {}, 5.0, locked=True)
    assert "is not here" in raised.value.message
    assert "images build --service agent --version 1.0.0" in raised.value.hint
    assert not fake.called("up")
    assert (lab.override_path.read_text() if lab.override_path.exists() else None) == override
