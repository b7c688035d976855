"""Building catalogue images on the fake engine: only what is missing, --force, the base."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import BadInput
from agentlab.engine.fake import FakeEngine
from agentlab.lab.builds import CatalogueBuild, run_jobs

BASE = "lab/base:1"


def job(version: str) -> CatalogueBuild:
    return CatalogueBuild(
        "agent", version, f"lab/agent:{version}", {}, (BASE,), Path("."), {"BASE_IMAGE": BASE}
    )


def build(fake: FakeEngine, force: bool, *versions: str) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    built = run_jobs(fake, [job(v) for v in versions], force, lines.append)
    return [b.tag for b in built], lines


def test_only_missing_images_are_built() -> None:
    fake = FakeEngine()
    fake.add_image(BASE)
    fake.add_image("lab/agent:1.0.0")
    built, lines = build(fake, False, "1.0.0", "1.1.0")
    assert built == ["lab/agent:1.1.0"]
    assert lines[-1] == "1 image(s) already present (use --force to rebuild)"


def test_force_rebuilds_and_removes_the_image_it_replaced() -> None:
    fake = FakeEngine()
    fake.add_image(BASE)
    old = fake.add_image("lab/agent:1.0.0")
    built, lines = build(fake, True, "1.0.0")
    assert built == ["lab/agent:1.0.0"]
    new = fake.image("lab/agent:1.0.0")
    assert new is not None and new.id != old.id
    assert fake.called("remove_image_if_unused") == [(old.id,)]
    assert any(line.startswith("removed the image lab/agent:1.0.0 was before") for line in lines)


def test_a_missing_base_image_is_bad_input_before_any_build() -> None:
    fake = FakeEngine()
    with pytest.raises(BadInput, match="base image lab/base:1 of agent is not present"):
        build(fake, False, "1.0.0")
    assert fake.called("build_image") == []
