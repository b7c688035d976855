"""Building catalogue images on the fake engine: only what is missing, --force, the base."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agentlab.common.errors import BadInput, EngineUnavailable
from agentlab.engine.fake import FakeEngine
from agentlab.engine.model import BuildSection, ServiceSpec
from agentlab.lab import registry
from agentlab.lab.builds import (
    CatalogueBuild,
    build_missing,
    check_bases,
    chosen_base_image,
    run_jobs,
    service_job,
)
from tests.unit.test_lab_facade import make_facade

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
    assert lines == ["[1/1] building lab/agent:1.1.0"]  # up and rollouts: nothing on the rest


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


def test_what_up_and_rollouts_build_is_pushed_when_the_lab_has_a_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeEngine(nap=0.0)
    fake.add_image(BASE)
    fake.add_image("lab/agent:1.0.0")
    pushed: list[tuple[str, str]] = []

    def publish(model: object, where: str, ref: str, progress: object) -> str:
        pushed.append((where, ref))
        return "sha256:" + "e" * 64

    monkeypatch.setattr(registry, "ready", lambda model, progress: "127.0.0.1:5000")
    monkeypatch.setattr(registry, "publish", publish)
    for directory in ("on", "off"):
        (tmp_path / directory).mkdir()
    with_registry = make_facade(tmp_path / "on", fake, registry={"port": 5000})
    built = build_missing(with_registry.model, [job("1.0.0"), job("1.1.0")], lambda _: None)
    assert [b.tag for b in built] == ["lab/agent:1.1.0"]
    assert pushed == [("127.0.0.1:5000", "lab/agent:1.1.0")]  # what was built, only

    def down(model: object, progress: object) -> str:
        raise EngineUnavailable("the registry at 127.0.0.1:5000 does not answer", hint="up")

    monkeypatch.setattr(registry, "ready", down)
    said: list[str] = []
    built = build_missing(with_registry.model, [job("1.3.0")], said.append)
    assert [b.tag for b in built] == ["lab/agent:1.3.0"]  # the build stands, unpushed
    assert said[-1] == (
        "the registry at 127.0.0.1:5000 does not answer: 1 image(s) not pushed "
        "(hint: agentlab images push once it runs)"
    )
    assert pushed == [("127.0.0.1:5000", "lab/agent:1.1.0")]
    without = make_facade(tmp_path / "off", fake)
    build_missing(without.model, [job("1.2.0")], lambda _: None)
    assert pushed == [("127.0.0.1:5000", "lab/agent:1.1.0")]  # no registry: nothing pushed


def test_up_builds_the_catalogue_image_a_service_runs_when_it_is_not_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo lab on a fresh engine: `up --version` pins the primary service only, and
    the collector's image, named by the compose file, is built from the catalogue."""
    monkeypatch.setenv("AGENTLAB_BASE_IMAGE", BASE)
    (tmp_path / "Dockerfile").write_text(f"ARG BASE_IMAGE={BASE}\nFROM ${{BASE_IMAGE}}\n")
    fake = FakeEngine(nap=0.0)
    fake.add_image(BASE)
    fake.add_image("lab/agent:1.0.0")
    fake.add_service("agent", "lab/agent:1.0.0")
    fake.pin("collector", "lab/collector:1.0.0")
    fake.pin("tool", "lab/tool:2.0.0")  # listed in no catalogue: still refused
    recipe = {"image": "lab/collector", "context": ".", "dockerfile": "Dockerfile"}
    catalogue = {"collector": {**recipe, "versions": {"1.0.0": {}, "2.0.0": {}}}}
    lab = make_facade(tmp_path, fake, catalogue=catalogue, managed=["agent", "collector"])
    with pytest.raises(BadInput, match=r"image lab/tool:2\.0\.0 of service tool is not present"):
        lab.up("1.0.0", {}, 30)
    assert fake.called("build_image") == []
    fake.add_image("lab/tool:2.0.0")
    lab.up("1.0.0", {}, 30)
    assert [call[1] for call in fake.called("build_image")] == ["lab/collector:1.0.0"]
    assert fake.images_of("collector") == ["lab/collector:1.0.0"]


def test_a_service_build_keeps_its_dockerfile_base_unless_one_is_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's `ARG BASE_IMAGE=lab/base:1` is theirs: agentlab passes BASE_IMAGE only when
    --base-image or $AGENTLAB_BASE_IMAGE chose one (it replaced it with python:3.12-slim,
    then refused the build for want of that image); an ARG with no default gets the
    default base."""
    monkeypatch.delenv("AGENTLAB_BASE_IMAGE", raising=False)
    (tmp_path / "Dockerfile").write_text(f"ARG BASE_IMAGE={BASE}\nFROM ${{BASE_IMAGE}}\n")
    spec = ServiceSpec("web", "shop-web:1.0.0", BuildSection(str(tmp_path)), 1)
    own = service_job(spec, "shop-web", "1.1.0", chosen_base_image(None))
    assert (own.bases, own.args.get("BASE_IMAGE"), own.settable_base) == ((BASE,), None, BASE)
    given = service_job(spec, "shop-web", "1.1.0", chosen_base_image("lab/other:2"))
    assert (given.bases, given.args["BASE_IMAGE"]) == (("lab/other:2",), "lab/other:2")
    monkeypatch.setenv("AGENTLAB_BASE_IMAGE", "lab/env:3")
    assert service_job(spec, "shop-web", "1.1.0", chosen_base_image(None)).bases == ("lab/env:3",)
    (tmp_path / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    monkeypatch.delenv("AGENTLAB_BASE_IMAGE")
    bare = service_job(spec, "shop-web", "1.1.0", chosen_base_image(None))
    assert bare.bases == ("python:3.12-slim",)
    inline = BuildSection(str(tmp_path), inline="FROM lab/inline AS Run\nFROM run\n")
    assert service_job(replace(spec, build=inline), "shop-web", "1.1.0", None).bases == (
        "lab/inline",
    )
    fake = FakeEngine(nap=0.0)
    with pytest.raises(BadInput) as refused:
        check_bases(fake, [own])
    assert (
        refused.value.message == f"base image {BASE} of web is not present locally "
        "(agentlab never pulls)"
    )
    assert refused.value.hint == f"docker pull {BASE}, or set AGENTLAB_BASE_IMAGE to a local image"
    (tmp_path / "Dockerfile").write_text("# syntax=docker/dockerfile:1.4\nFROM lab/base:1 AS a\n")
    fake.add_image("lab/base:1")
    with pytest.raises(BadInput) as refused:  # every awesome-compose sample has that line
        check_bases(fake, [service_job(spec, "shop-web", "1.1.0", None)])
    assert refused.value.message.startswith("the BuildKit frontend docker/dockerfile:1.4")
    assert refused.value.hint.endswith(
        "or remove that line to build with the engine's own frontend"
    )
    (tmp_path / "Dockerfile").write_text("FROM lab/other:1 AS a\n")
    with pytest.raises(BadInput) as refused:  # no BASE_IMAGE to set: the variable is no help
        check_bases(fake, [service_job(spec, "shop-web", "1.1.0", "lab/base:1")])
    assert refused.value.hint == "docker pull lab/other:1"


def test_a_build_section_s_own_version_argument_is_replaced_and_said(tmp_path: Path) -> None:
    """The version being built is VERSION, over the build section's own (a hard-coded
    `VERSION: "1.0.0"` would build every version alike); the build line says it replaced
    one (a VERSION meant as a tool's version, `3.2`, changes)."""
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE}\nARG VERSION\n")
    own = BuildSection(str(tmp_path), args={"VERSION": "3.2"})
    spec = ServiceSpec("web", "shop-web:1.0.0", own, 1)
    job = service_job(spec, "shop-web", "1.1.0", None)
    assert (job.args["VERSION"], job.overridden) == ("1.1.0", "3.2")
    same = replace(spec, build=BuildSection(str(tmp_path), args={"VERSION": "1.1.0"}))
    assert service_job(same, "shop-web", "1.1.0", None).overridden == ""
    fake = FakeEngine(nap=0.0)
    fake.add_image(BASE)
    lines: list[str] = []
    run_jobs(fake, [job], False, lines.append)
    assert lines[0] == "[1/1] building shop-web:1.1.0 (VERSION=1.1.0, over the build section's 3.2)"
