"""Environments on the in-memory engine: which one a command runs in, its project name and
state, its host ports, its version policy, `diff` and `promote --from --to`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from agentlab.common.errors import BadInput
from agentlab.engine.fake import FakeEngine
from agentlab.engine.model import PublishedPort
from agentlab.lab import environment_ports
from agentlab.lab.environments import compare, environment_lab
from agentlab.lab.facade import Lab
from agentlab.lab.promotion import plan_promotion, run_promotion
from agentlab.lab.watch.state import reopen
from agentlab.project.environments import (
    STRICT,
    EnvironmentPolicy,
    choose_environment,
    default_environments,
    parse_environments,
)
from agentlab.project.location import Project, load_project

REPO = "lab/agent"


@pytest.fixture(autouse=True)
def no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTLAB_ENV", raising=False)
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)


def write_project(directory: Path, settings: str = "primary: [agent]\n") -> Path:
    compose = directory / "compose.yaml"
    compose.write_text("services: {}\n", encoding="utf-8")
    (directory / "agentlab.yaml").write_text(
        settings + "rollout: {monitor: 0, timeout: 30}\n", encoding="utf-8"
    )
    return compose


# ---- which environment, its name and state ---------------------------------------------


def test_e_then_agentlab_env_then_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compose = str(write_project(tmp_path))
    plain = load_project([compose], "shop")
    assert (plain.environment_name, plain.resolved_name()) == ("default", "shop")
    staging = load_project([compose], "shop", "staging")
    assert (staging.environment_name, staging.resolved_name()) == ("staging", "shop-staging")
    assert staging.state_dir(staging.resolved_name()) != plain.state_dir(plain.resolved_name())
    monkeypatch.setenv("AGENTLAB_ENV", "prod")
    assert load_project([compose], "shop").resolved_name() == "shop-prod"
    assert load_project([compose], "shop", "dev").resolved_name() == "shop-dev"  # -e wins
    assert Lab(load_project([compose], "shop"), FakeEngine().attach).environment == "prod"


def test_an_unknown_environment_is_bad_input_naming_the_known_ones(tmp_path: Path) -> None:
    compose = str(write_project(tmp_path))
    with pytest.raises(BadInput, match="unknown environment 'qa'") as error:
        load_project([compose], "shop", "qa")
    assert "dev, staging, prod" in error.value.hint
    assert not (tmp_path / ".agentlab").exists()


def test_agentlab_yaml_names_the_environments(tmp_path: Path) -> None:
    compose = str(write_project(tmp_path, "environments: {qa: {}, live: {ports: fixed}}\n"))
    project = load_project([compose], "shop", "qa")
    assert project.resolved_name() == "shop-qa"
    assert list(project.settings.environments) == ["qa", "live"]
    live = project.in_environment("live")
    assert live.environment == "live"
    assert live.environment_settings == project.settings.environments["live"]
    assert project.in_environment("default").environment is None
    with pytest.raises(BadInput, match="unknown environment 'prod'"):
        project.in_environment("prod")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"default": {}}, "bad environment name 'default'"),
        ({"Prod": {}}, "bad environment name 'Prod'"),
        ({"qa": {"port": 1}}, "unknown key 'port'"),
        ({"qa": {"ports": "random"}}, "ports must be ephemeral or fixed"),
        ({"qa": {"policy": {"allow_dirty": True}}}, "unknown policy key 'allow_dirty'"),
        ({"qa": {"policy": {"allow_latest": "no"}}}, "must be true or false"),
        ([], "must be a mapping"),
    ],
)
def test_bad_environments_are_bad_input(value: object, fragment: str, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=fragment):
        parse_environments(value, tmp_path / "agentlab.yaml")


def test_default_environments_and_their_policies() -> None:
    found = default_environments()
    assert list(found) == ["dev", "staging", "prod"]
    assert found["prod"].policy == STRICT and found["dev"].policy == EnvironmentPolicy()
    assert choose_environment(None, found) is None
    assert choose_environment("default", found) is None


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("1.3.0", None),
        ("v1.3.0", None),
        ("1.3.0+build.7", None),
        ("1.4.1-dev.1", "prod refuses the prerelease 1.4.1-dev.1"),
        ("1.5.1-dev.3_g1a2b3c4.dirty", "prod refuses the prerelease"),
        ("2.0.0-rc.1", "prod refuses the prerelease 2.0.0-rc.1"),
        ("latest", "prod refuses 'latest'"),
        ("10-focal", "prod refuses non-semver '10-focal'"),
    ],
)
def test_strict_policy(tag: str, reason: str | None) -> None:
    found = STRICT.refusal("prod", tag)
    assert found == reason if reason is None else reason in (found or "")
    assert EnvironmentPolicy().refusal("dev", tag) is None


# ---- on the fake engine ------------------------------------------------------------------


class Engines:
    """One fake engine per compose project, sharing their images (one Docker engine)."""

    def __init__(self) -> None:
        self.by_project: dict[str, FakeEngine] = {}
        self.images = FakeEngine(nap=0.0)
        for version in ("1.3.0", "1.4.1", "1.4.1-dev.1"):
            self.images.add_image(f"{REPO}:{version}")
        self.images.add_image("lab/gateway:1.0.0")

    def __call__(self, project: Project, name: str, override: Path) -> FakeEngine:
        engine = self.by_project.get(name)
        if engine is None:
            engine = FakeEngine(nap=0.0, image_store=self.images.image_store)  # one engine's images
            self.by_project[name] = engine
        return engine.attach(project, name, override)


@pytest.fixture
def engines() -> Engines:
    return Engines()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return load_project([str(write_project(tmp_path))], "shop")


def start(engines: Engines, project: Project, env: str, version: str) -> Lab:
    lab = environment_lab(project, env, engines)
    fake = engines.by_project[lab.name]
    fake.add_service("agent", f"{REPO}:{version}", replicas=2)
    fake.add_service("gateway", "lab/gateway:1.0.0")
    fake.host_ports["gateway"] = (PublishedPort(8080, 8080, "127.0.0.1"),)
    lab.reload()
    return lab


def test_an_environment_publishes_its_fixed_ports_on_ephemeral_ones(
    engines: Engines, project: Project
) -> None:
    staging = start(engines, project, "staging", "1.3.0")
    assert environment_ports.wanted_ports(staging.model) == {
        "gateway": [{"target": 8080, "protocol": "tcp", "host_ip": "127.0.0.1"}]
    }
    environment_ports.apply(staging.model, print)
    text = staging.override_path.read_text(encoding="utf-8")
    assert "ports: !override" in text
    assert staging.services["gateway"].fixed_host_ports == ()  # as Compose reads it
    assert environment_ports.wanted_ports(staging.model) == {}  # applied once
    plain = start(engines, project, "default", "1.3.0")
    assert environment_ports.wanted_ports(plain.model) == {}  # the project keeps its ports


def test_an_environment_turned_fixed_gets_the_compose_files_ports_back(
    engines: Engines, project: Project, tmp_path: Path
) -> None:
    environment_ports.apply(start(engines, project, "staging", "1.3.0").model, print)
    settings = "primary: [agent]\nenvironments: {staging: {ports: fixed}}\n"
    fixed = load_project([str(write_project(tmp_path, settings))], "shop")
    staging = environment_lab(fixed, "staging", engines)
    assert "!override" in staging.override_path.read_text(encoding="utf-8")  # the last run's
    said: list[str] = []
    environment_ports.apply(staging.model, said.append)
    assert said and said[0].startswith("gateway: the compose file's host ports again")
    text = staging.override_path.read_text(encoding="utf-8")
    assert "!override" not in text and "gateway" not in text
    environment_ports.apply(staging.model, said.append)
    assert len(said) == 1  # given back once


def test_the_override_keeps_an_environments_ports_through_other_writes(
    engines: Engines, project: Project
) -> None:
    prod = start(engines, project, "prod", "1.3.0")
    environment_ports.apply(prod.model, print)
    prod.scale("agent", 3)  # rewrites the override
    doc = yaml.load(prod.override_path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    assert doc["services"]["gateway"]["ports"] == [
        {"host_ip": "127.0.0.1", "protocol": "tcp", "target": "8080"}
    ]
    assert "!override" in prod.override_path.read_text(encoding="utf-8")


def test_prod_refuses_a_prerelease_even_when_local_and_changes_nothing(
    engines: Engines, project: Project
) -> None:
    prod = start(engines, project, "prod", "1.3.0")
    before = prod.override_path.read_text() if prod.override_path.exists() else None
    for spec in ("1.4.1-dev.1", ">=1.4.1-dev.0 <1.4.1"):
        with pytest.raises(BadInput, match=r"prod refuses the prerelease 1\.4\.1-dev\.1"):
            prod.plan_rollout("agent", spec)
        with pytest.raises(BadInput, match="prod refuses the prerelease") as error:
            prod.up(None, {"agent": spec}, timeout=5)
    assert "try it in dev or staging first" in error.value.hint
    assert (prod.override_path.read_text() if prod.override_path.exists() else None) == before
    assert {c.image_ref for c in engines.by_project["shop-prod"].of("agent")} == {f"{REPO}:1.3.0"}
    dev = start(engines, project, "dev", "1.3.0")
    assert dev.plan_rollout("agent", "1.4.1-dev.1").target.tag == "1.4.1-dev.1"


def test_compare_tells_environments_apart_by_image(engines: Engines, project: Project) -> None:
    start(engines, project, "staging", "1.4.1")
    start(engines, project, "prod", "1.3.0")
    rows = {row.service: row for row in compare(project, ["staging", "prod"], engines)}
    assert not rows["agent"].same and rows["gateway"].same
    staging, prod = rows["agent"].runs
    assert (staging.environment, staging.versions, prod.versions) == ("staging", "1.4.1", "1.3.0")
    assert staging.project == "shop-staging" and staging.images[0].replicas == 2
    assert rows["agent"].runs[0].images[0].short == staging.images[0].image_id[7:19]


def test_promote_rolls_the_target_to_the_sources_exact_image(
    engines: Engines, project: Project
) -> None:
    staging = start(engines, project, "staging", "1.4.1")
    prod = start(engines, project, "prod", "1.3.0")
    promotion = plan_promotion(staging, prod, "agent")
    assert promotion.plan is not None and promotion.plan.target.image == f"{REPO}:1.4.1"
    result = run_promotion(prod, promotion)
    assert result is not None and result.outcome == "complete"
    ids = {r.image_id for r in prod.engine.replicas("agent") if r.running}
    assert ids == {promotion.image.image_id}
    assert prod.history().revisions("agent")[-1].cause == "promote agent --from staging --to prod"
    assert plan_promotion(staging, prod, "agent").plan is None  # nothing left to promote


def test_promote_refuses_what_it_cannot_copy_exactly(
    engines: Engines, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = start(engines, project, "staging", "1.4.1")
    prod = start(engines, project, "prod", "1.3.0")
    built = prod.model.image(f"{REPO}:1.4.1")
    assert built is not None
    rebuilt = replace(built, id=f"sha256:{'f' * 64}")  # the tag names another build now
    monkeypatch.setattr(prod.model, "image", lambda ref: rebuilt)
    with pytest.raises(BadInput, match=r"the tag lab/agent:1\.4\.1 moved: it names image f{12}"):
        plan_promotion(staging, prod, "agent")
    monkeypatch.undo()
    engines.by_project["shop-staging"].start("agent", f"{REPO}:1.3.0", 1)
    with pytest.raises(BadInput, match="staging runs agent on 2 images"):
        plan_promotion(staging, prod, "agent")
    with pytest.raises(BadInput, match="the same environment") as same:
        plan_promotion(prod, prod, "gateway")
    assert same.value.hint == "agentlab promote gateway --from staging --to prod"


def test_promote_applies_the_targets_policy(engines: Engines, project: Project) -> None:
    dev = start(engines, project, "dev", "1.4.1-dev.1")
    prod = start(engines, project, "prod", "1.3.0")
    with pytest.raises(BadInput, match=r"prod refuses the prerelease 1\.4\.1-dev\.1"):
        plan_promotion(dev, prod, "agent")
    assert plan_promotion(prod, dev, "agent").plan is not None


def test_the_watcher_reopens_an_environment_under_the_same_name(
    engines: Engines, project: Project
) -> None:
    staging = start(engines, project, "staging", "1.3.0")
    again = reopen(staging)
    assert (again.name, again.environment) == ("shop-staging", "staging")
    assert again.project.environment_settings == project.settings.environments["staging"]


def test_a_reopened_lab_opens_other_environments_on_their_own_engines(
    engines: Engines, project: Project
) -> None:
    default = start(engines, project, "default", "1.4.1")
    start(engines, project, "prod", "1.3.0")
    again = reopen(default)
    assert again.engine is default.engine
    rows = compare(again.project, ["default", "staging", "prod"], again.model.engine_factory)
    agent = next(row for row in rows if row.service == "agent")
    assert [run.versions for run in agent.runs] == ["1.4.1", "-", "1.3.0"]
