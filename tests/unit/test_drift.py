"""Drift on the in-memory engine: a moved tag, a replica on another image, a rollout under
way (not drift), and the status and CLI that show it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.engine.fake import FakeEngine
from agentlab.engine.model import Replica
from agentlab.lab.drift import CONFIG_EDITED, REPLICA_IMAGE, TAG_MOVED, Decision, find_drift
from agentlab.lab.facade import Lab
from tests.unit.test_lab_facade import REPO, make_facade


@pytest.fixture
def fake() -> FakeEngine:
    engine = FakeEngine(nap=0.0)
    for version in ("1.0.0", "1.1.0"):
        engine.add_image(f"{REPO}:{version}")
    engine.add_service("agent", f"{REPO}:1.0.0", replicas=2)
    return engine


@pytest.fixture
def lab(tmp_path: Path, fake: FakeEngine) -> Lab:
    return make_facade(tmp_path, fake)


def test_a_lab_as_decided_has_no_drift(lab: Lab) -> None:
    assert lab.rollout("agent", "1.1.0").outcome == "complete"
    report = lab.drift()
    assert report.drifts == ()
    assert (report.services, report.replicas) == (("agent",), 2)


def test_a_retagged_version_is_a_moved_tag_and_its_replicas_still_run_the_decided_image(
    lab: Lab, fake: FakeEngine
) -> None:
    assert lab.rollout("agent", "1.1.0").outcome == "complete"
    revision = lab.history().current("agent")
    assert revision is not None
    fake.add_image(f"{REPO}:1.1.0")  # someone rebuilt and retagged 1.1.0
    [moved] = lab.drift().drifts
    assert (moved.kind, moved.subject) == (TAG_MOVED, f"{REPO}:1.1.0")
    assert f"revision {revision.number} ran image" in moved.reason
    assert f"--to-revision {revision.number}" in moved.hint


def test_a_replica_recreated_on_another_image_is_named_with_its_image(
    lab: Lab, fake: FakeEngine
) -> None:
    assert lab.rollout("agent", "1.1.0").outcome == "complete"
    victim = fake.of("agent")[0]
    fake.remove_replica(victim.id)
    [stranger] = fake.start("agent", f"{REPO}:1.0.0", 1)
    status = lab.status()
    [drift] = status.drift
    name = fake.containers[stranger].name
    assert (drift.kind, drift.subject) == (REPLICA_IMAGE, name)
    assert f"({REPO}:1.0.0), not " in drift.reason and drift.reason.endswith(f"({REPO}:1.1.0)")
    assert status.drift_of(name) == drift


def test_without_a_revision_the_tag_is_the_decision(lab: Lab, fake: FakeEngine) -> None:
    fake.start("agent", f"{REPO}:1.1.0", 1)  # pinned 1.0.0 by add_service, no revision
    [drift] = lab.drift().drifts
    assert drift.kind == REPLICA_IMAGE and f"{REPO}:1.1.0" in drift.reason


def test_a_rollout_under_way_is_not_drift(lab: Lab, fake: FakeEngine) -> None:
    history = lab.history()
    history.start_rollout("agent", "1.0.0", f"{REPO}:1.0.0", "1.1.0", f"{REPO}:1.1.0", 1, 1)
    fake.start("agent", f"{REPO}:1.1.0", 1)
    assert lab.drift().services == ()
    assert lab.drift().drifts == ()


@pytest.mark.parametrize("read", ["drift", "status"])
def test_a_rollout_that_ends_while_drift_is_read_is_not_drift(
    lab: Lab, fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, read: str
) -> None:
    """The replicas were listed while a rollback removed the failed replica, and the journal
    read after it ended: that replica, gone, was reported on the wrong image."""
    history = lab.history()
    rollout = history.start_rollout(
        "agent", "1.0.0", f"{REPO}:1.0.0", "1.1.0", f"{REPO}:1.1.0", 1, 1
    )
    [failed] = fake.start("agent", f"{REPO}:1.1.0", 1)
    listing = fake.replicas

    def listed_then_rolled_back(service: str | None = None) -> list[Replica]:
        replicas = listing(service)
        fake.remove_replica(failed)  # the rollback ends just after the listing
        history.set_rollout_state(rollout, "rolled-back")
        monkeypatch.setattr(fake, "replicas", listing)
        return replicas

    monkeypatch.setattr(fake, "replicas", listed_then_rolled_back)
    assert (lab.drift().drifts if read == "drift" else lab.status().drift) == ()
    assert lab.drift().drifts == () and lab.drift().services == ("agent",)


def test_find_drift_compares_only_what_it_knows() -> None:
    decisions = [Decision("a", "x:1", None), Decision("b", "y:1", "sha256:b1", 3)]
    assert find_drift(decisions, {"x:1": None, "y:1": None}, []) == []  # nothing to compare
    [moved] = find_drift(decisions, {"y:1": "sha256:b2"}, [])
    assert moved.service == "b" and moved.kind == TAG_MOVED


def test_replicas_of_a_configuration_edited_since_are_drift_until_up_rolls_it(
    lab: Lab, fake: FakeEngine
) -> None:
    """The compose file edited under running replicas: each replica is one drift line
    (once: one on another image is said so already), until `up` rolls the edit out."""
    assert lab.rollout("agent", "1.1.0").outcome == "complete"
    fake.configs["agent"] = "edited"
    drifts = lab.drift().drifts
    assert [(d.kind, d.subject) for d in drifts] == [
        (CONFIG_EDITED, c.name) for c in fake.of("agent")
    ]
    assert drifts[0].hint == "agentlab up rolls the edit out, one replica at a time"
    victim = fake.of("agent")[0]
    fake.remove_replica(victim.id)
    [stranger] = fake.start("agent", f"{REPO}:1.0.0", 1)
    fake.containers[stranger].config_hash = "older"
    kinds = {d.subject: d.kind for d in lab.drift().drifts}
    assert kinds[fake.containers[stranger].name] == REPLICA_IMAGE
    assert {d.kind for d in lab.status().drift} == {REPLICA_IMAGE}  # status: images only
    fake.remove_replica(stranger)
    lab.up(None, {}, 30)
    assert lab.drift().drifts == ()
