"""The facade on the in-memory engine: pins, status, resolution and requirement checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import BadInput
from agentlab.engine.fake import FakeEngine
from agentlab.lab.facade import Lab
from agentlab.project.config import load_settings
from agentlab.project.location import Project
from agentlab.state.override import update_override


@pytest.fixture
def fake() -> FakeEngine:
    return FakeEngine(project="lab")


@pytest.fixture
def lab(tmp_path: Path, fake: FakeEngine) -> Lab:
    fake.add_image("lab/agent:1.2.0")
    fake.add_image("lab/agent:1.3.0")
    fake.add_image("lab/agent:2.0.0", labels={"io.agentlab.requires": "db>=2.0.0"})
    fake.add_image("lab/db:1.0.0")
    fake.add_image("lab/db:2.0.0")
    fake.add_service("agent", "lab/agent:1.2.0", replicas=2)
    fake.add_service("db", "lab/db:1.0.0")
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n")
    (tmp_path / "agentlab.yaml").write_text("primary: [agent]\n")
    project = Project((compose,), load_settings(tmp_path), "lab")
    return Lab(project, engine_factory=lambda *_: fake)


def test_status_counts_ready_replicas(lab: Lab) -> None:
    status = {s.name: s for s in lab.status().services}
    assert (status["agent"].ready, status["agent"].desired) == (2, 2)
    assert status["agent"].managed and status["db"].managed


def test_a_broken_override_keeps_the_last_good_pins_in_views_only(lab: Lab) -> None:
    update_override(lab.override_path, pins={"agent": "lab/agent:1.3.0"})
    assert lab.status().services[0].image == "lab/agent:1.3.0"
    lab.override_path.write_text("services: [unclosed\n")
    assert lab.status().services[0].image == "lab/agent:1.3.0"  # the view keeps going
    with pytest.raises(BadInput, match="not valid YAML"):
        lab.current_image("agent")  # anything that acts refuses


def test_version_applies_to_primary_and_ranges_resolve(lab: Lab) -> None:
    resolved = lab.plan_pins("~1.3", {})
    assert [(r.service, r.tag) for r in resolved] == [("agent", "1.3.0")]


def test_unknown_service_and_missing_version_are_bad_input(lab: Lab, fake: FakeEngine) -> None:
    fake.add_image("haproxy:2.6")
    fake.add_service("agentlab-proxy", "haproxy:2.6")  # agentlab's own: not the user's to name
    with pytest.raises(BadInput, match="unknown service 'web'") as unknown:
        lab.plan_pins(None, {"web": "1.0.0"})
    assert unknown.value.hint == "services: agent, db"
    with pytest.raises(BadInput, match=r"no local image of agent matches 9\.0\.0"):
        lab.plan_pins("9.0.0", {})


def test_requirements_are_checked_and_order_the_changes(lab: Lab) -> None:
    with pytest.raises(BadInput, match=r"agent 2.0.0 requires db>=2.0.0, but db would run 1.0.0"):
        lab.plan_pins("2.0.0", {})
    resolved = lab.plan_pins("2.0.0", {"db": "2.0.0"})
    assert [r.service for r in resolved] == ["db", "agent"]  # the required service first
