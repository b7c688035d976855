"""Shapes of user projects the sample projects did not have, on the fake engine: an image
one service builds and another only runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import BadInput
from agentlab.engine.fake import FakeEngine
from agentlab.engine.model import BuildSection
from agentlab.lab.facade import Lab
from agentlab.project.config import load_settings
from agentlab.project.location import Project

BASE = "lab/base:1"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """`app` built from source as shop/app:1.0.0 (not built yet), `sidecar` runs the same
    image with no build section."""
    monkeypatch.setenv("AGENTLAB_BASE_IMAGE", BASE)
    source = tmp_path / "app"
    source.mkdir()
    (source / "Dockerfile").write_text(f"ARG BASE_IMAGE={BASE}\nFROM ${{BASE_IMAGE}}\n")
    engine = FakeEngine(nap=0.0)
    engine.add_image(BASE)
    engine.builds["app"] = BuildSection(str(source))
    engine.pin("app", "shop/app:1.0.0")
    engine.pin("sidecar", "shop/app:1.0.0")
    return engine


@pytest.fixture
def lab(tmp_path: Path, fake: FakeEngine) -> Lab:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n")
    (tmp_path / "agentlab.yaml").write_text("rollout: {monitor: 0}\n")
    return Lab(Project((compose,), load_settings(tmp_path), "shop"), engine_factory=fake.attach)


def test_an_image_one_service_builds_and_another_runs_is_built_once(
    lab: Lab, fake: FakeEngine
) -> None:
    lab.up(None, {}, 30)
    assert [tag for _, tag, _, _ in fake.called("build_service")] == ["shop/app:1.0.0"]
    assert fake.images_of("sidecar") == ["shop/app:1.0.0"]


def test_an_image_no_service_builds_is_still_refused(lab: Lab, fake: FakeEngine) -> None:
    fake.pin("tool", "shop/tool:1.0.0")
    with pytest.raises(BadInput, match=r"image shop/tool:1\.0\.0 of service tool is not present"):
        lab.up(None, {}, 30)
    assert fake.called("build_service") == [] and fake.called("up") == []
