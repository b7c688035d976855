"""Environments side by side on the real engine: the demo lab's staging and prod (a copy:
its agentlab.lock is the test's own), prod running only locked digests, `diff`, `promote
--from staging --to prod` by digest under load (0 failed), prod's policy; and a second
project (webapp, whose cache publishes a fixed host port, no registry) in dev and prod."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentlab.traffic.load import TrafficGenerator
from tests.conftest import (
    DEMO,
    STATE_HOME,
    WEBAPP,
    LabRun,
    base_image_env,
    registry_address,
    remove_references,
)
from tests.integration.test_dry_run import snapshot

pytestmark = pytest.mark.engine


def environment_lab(compose_file: Any, prefix: str, environments: list[str]) -> Iterator[LabRun]:
    """A LabRun on a fresh base project name; each environment's project (`<name>-<env>`),
    state and registry (its volume and the references to it) go afterwards."""
    project = f"{prefix}-{uuid.uuid4().hex[:8]}"
    lab = LabRun(compose_file, project, {**base_image_env(), "AGENTLAB_GATEWAY_PORT": "8080"})
    try:
        yield lab
    finally:
        for env in environments:
            name = f"{project}-{env}"
            state = STATE_HOME / "agentlab" / name
            if compose_file != DEMO:
                state = compose_file.parent / ".agentlab" / name
            registry = registry_address(state / "override.yaml")
            subprocess.run(
                ["docker", "compose", "-f", str(compose_file), "-p", name, "down", "-v",
                 "--remove-orphans", "-t", "2"],
                capture_output=True, timeout=120, check=False, env=lab.env,
            )  # fmt: skip
            shutil.rmtree(state, ignore_errors=True)
            if registry is not None:
                subprocess.run(["docker", "volume", "rm", "-f", f"{name}_agentlab-registry"],
                               capture_output=True, timeout=60, check=False)  # fmt: skip
                remove_references(f"{registry}/")


def env_status(lab: LabRun, env: str) -> dict[str, dict[str, Any]]:
    done = lab("-e", env, "status", "--json")
    assert done.code == 0, done.err
    return {s["service"]: s for s in done.json()["services"]}


def image_ids(lab: LabRun, env: str, service: str) -> set[str]:
    return {r["image_id"] for r in env_status(lab, env)[service]["replicas"]}


def published(lab: LabRun, env: str, service: str, port: int) -> int:
    out = lab.docker("compose", "-f", str(lab.compose_file), "-p", f"{lab.project}-{env}",
                     "port", service, str(port))  # fmt: skip
    return int(out.strip().rsplit(":", 1)[1])


@pytest.fixture
def demo_envs(demo_images: None, tmp_path: Path) -> Iterator[LabRun]:
    copy = tmp_path / "demo"
    shutil.copytree(DEMO.parent, copy)
    yield from environment_lab(copy / "compose.yaml", "t-env", ["staging", "prod"])


@pytest.fixture
def webapp_envs(webapp_images: None) -> Iterator[LabRun]:
    yield from environment_lab(WEBAPP, "t-envweb", ["dev", "prod"])


def test_staging_and_prod_side_by_side_locked_digests_diff_policy_and_promote(
    demo_envs: LabRun,
) -> None:
    lab = demo_envs
    prod_state = lab.compose_file.parent / ".agentlab" / f"{lab.project}-prod"
    staging = lab("-e", "staging", "up", "--version", "1.3.0")
    assert staging.code == 0, staging.err
    refused = lab("-e", "prod", "up")  # the demo has a registry: prod runs only locked digests
    assert refused.code == 2, refused.err
    dry = lab("-e", "prod", "up", "--dry-run")
    assert (dry.code, dry.err) == (2, refused.err)
    assert "prod runs only digests agentlab.lock records" in refused.err
    assert "agentlab -e staging lock" in refused.err
    prod_label = f"label=com.docker.compose.project={lab.project}-prod"
    assert lab.docker("ps", "-aq", "--filter", prod_label).split() == []
    assert not (prod_state / "override.yaml").exists()
    for step in (("images", "push"), ("lock",), ("scale", "agent", "1")):
        done = lab("-e", "staging", *step, timeout=600)
        assert done.code == 0, (step, done.err)
    locked = yaml.safe_load((lab.compose_file.parent / "agentlab.lock").read_text())
    agent_130 = locked["environments"]["staging"]["services"]["agent"]
    prod_before = snapshot(lab, f"{lab.project}-prod", prod_state)
    planned = lab("-e", "prod", "up", "--dry-run", "--json")  # nothing started, no registry
    assert planned.code == 0, planned.err
    planned_agent = next(s for s in planned.json()["services"] if s["service"] == "agent")
    assert planned_agent["action"] == "start"
    assert planned_agent["to"].endswith(f"agentlab-demo/agent:1.3.0@{agent_130['digest']}")
    assert snapshot(lab, f"{lab.project}-prod", prod_state) == prod_before
    prod = lab("-e", "prod", "up")  # staging's locked digests, not the tags
    assert prod.code == 0, prod.err
    assert f"agentlab-demo/agent:1.3.0@{agent_130['digest']}" in (
        (prod_state / "override.yaml").read_text()
    )
    assert {r["digest"] for r in env_status(lab, "prod")["agent"]["replicas"]} == {
        agent_130["digest"]
    }
    assert published(lab, "staging", "gateway", 8080) != published(lab, "prod", "gateway", 8080)
    staging_state = prod_state.parent / f"{lab.project}-staging"
    staging_before = snapshot(lab, f"{lab.project}-staging", staging_state)
    planned = lab("-e", "staging", "up", "--set", "agent=1.4.1", "--dry-run")
    assert planned.code == 0, planned.err
    assert "  agent: roll 1.3.0 -> 1.4.1, 1 replica(s), rolling" in planned.out.splitlines()
    assert snapshot(lab, f"{lab.project}-staging", staging_state) == staging_before
    rolled = lab("-e", "staging", "up", "--set", "agent=1.4.1")
    assert rolled.code == 0, rolled.err

    diff = lab("diff", "staging", "prod", "--json")
    assert diff.code == 0, diff.err
    rows = {row["service"]: row for row in diff.json()["services"]}
    agent = rows["agent"]["environments"]
    assert not rows["agent"]["same"] and rows["collector"]["same"]
    assert [i["version"] for i in agent["staging"]["images"]] == ["1.4.1"]
    assert [i["version"] for i in agent["prod"]["images"]] == ["1.3.0"]
    assert agent["prod"]["project"] == f"{lab.project}-prod"
    staging_image = agent["staging"]["images"][0]["image_id"].removeprefix("sha256:")[:12]
    staging_digest = agent["staging"]["images"][0]["digest"]
    table = lab("diff", "staging", "prod")
    assert "agent" in table.out and "differs" in table.out

    override = (prod_state / "override.yaml").read_text()
    before = image_ids(lab, "prod", "agent")
    refused = lab("-e", "prod", "rollout", "agent", "--to", "1.4.1-dev.1")
    assert refused.code == 2 and "prod refuses the prerelease 1.4.1-dev.1" in refused.err
    refused = lab("-e", "prod", "up", "--set", "agent=1.4.1-dev.1")
    assert refused.code == 2, refused.err
    refused = lab("-e", "prod", "rollout", "agent", "--to", "1.4.1")  # staging locked 1.3.0
    assert refused.code == 2 and "it lists agent at 1.3.0" in refused.err, refused.err
    refused = lab("promote", "agent", "--from", "staging", "--to", "prod")
    assert refused.code == 2 and "it does not list its digest" in refused.err, refused.err
    assert image_ids(lab, "prod", "agent") == before
    assert (prod_state / "override.yaml").read_text() == override

    assert lab("-e", "staging", "lock").code == 0  # staging's 1.4.1, by digest
    override = (prod_state / "override.yaml").read_text()
    planned = lab("promote", "agent", "--from", "staging", "--to", "prod", "--dry-run", "--json")
    assert planned.code == 0, planned.err
    rollout = planned.json()["rollout"]
    assert rollout["to"].endswith(f"agentlab-demo/agent:1.4.1@{staging_digest}")  # by digest
    assert (rollout["from_version"], rollout["strategy"]) == ("1.3.0", "rolling")
    assert rollout["steps"]
    assert image_ids(lab, "prod", "agent") == before
    assert (prod_state / "override.yaml").read_text() == override
    url = f"http://127.0.0.1:{published(lab, 'prod', 'gateway', 8080)}/"
    # a worker per request in flight, and a long timeout: on a busy machine a slow answer is
    # not a lost one (a request the rollout loses fails at once: refused or reset)
    with TrafficGenerator(url, 20, timeout=15, workers=48) as load:
        promoted = lab("promote", "agent", "--from", "staging", "--to", "prod", "--json")
    report = load.stop()
    assert promoted.code == 0, promoted.err
    assert report.lost == 0 and report.ok > 100, report.lines()
    print("promote under load:", *report.lines(), sep="\n  ")
    assert image_ids(lab, "prod", "agent") == {staging_image}
    assert image_ids(lab, "staging", "agent") == {staging_image}  # staging untouched
    prod_agents = env_status(lab, "prod")["agent"]["replicas"]
    assert {r["image"].partition("@")[2] for r in prod_agents} == {staging_digest}  # by digest
    history = json.loads(lab("-e", "prod", "history", "agent", "--json").out)
    assert history[-1]["cause"] == "promote agent --from staging --to prod"
    again = lab("promote", "agent", "--from", "staging", "--to", "prod")
    assert again.code == 0 and "nothing to promote" in again.err
    assert lab("diff", "staging", "prod", "--json").json()["services"][0]["same"]
    fetched_only_by_the_rollout(lab, prod_state)


def fetched_only_by_the_rollout(lab: LabRun, prod_state: Path) -> None:
    """A version some section locks whose image is not here: prod's `rollout --dry-run`
    pulls nothing (nor does a refused rollout); the rollout itself fetches and runs it."""
    staging_state = prod_state.parent / f"{lab.project}-staging"
    registry = registry_address(staging_state / "override.yaml")
    assert registry is not None
    version = f"1.4.{100 + uuid.uuid4().int % 10**5}"
    remote = f"{registry}/agentlab-demo/agent"
    label = f"org.opencontainers.image.version={version}"
    subprocess.run(["docker", "build", "-q", "--label", label, "-t", f"{remote}:{version}", "-"],
                   input=b"FROM agentlab-demo/agent:1.4.1\n", capture_output=True, timeout=300,
                   check=True)  # fmt: skip
    pushed = lab.docker("push", f"{remote}:{version}")
    digest = re.findall(r"digest: (sha256:[0-9a-f]{64})", pushed)[0]
    lab.docker("image", "rm", f"{remote}:{version}")  # only in the registry now
    lockfile = lab.compose_file.parent / "agentlab.lock"
    lock = yaml.safe_load(lockfile.read_text())
    entry = {"version": version, "image": f"{remote}@{digest}", "digest": digest}
    lock["environments"]["dev"] = {"services": {"agent": entry}}
    lockfile.write_text(yaml.safe_dump(lock))

    def here() -> bool:
        found = subprocess.run(["docker", "image", "inspect", f"{remote}@{digest}"],
                               capture_output=True, timeout=60, check=False)  # fmt: skip
        return found.returncode == 0

    planned = lab("-e", "prod", "rollout", "agent", "--to", version, "--dry-run")
    assert planned.code == 0, planned.err
    assert f"first fetch {remote}@{digest} (locked, not here)" in planned.out
    refused = lab("-e", "prod", "rollout", "agent", "--to", version, "--max-surge", "0",
                  "--max-unavailable", "0")  # fmt: skip
    assert refused.code == 2, refused.err
    assert not here()  # validating pulled nothing
    rolled = lab("-e", "prod", "rollout", "agent", "--to", version, timeout=600)
    assert rolled.code == 0, rolled.err
    assert here()
    assert {r["image"] for r in env_status(lab, "prod")["agent"]["replicas"]} == {
        f"{remote}:{version}@{digest}"
    }


def test_a_second_project_in_dev_and_prod(webapp_envs: LabRun) -> None:
    lab = webapp_envs  # cache publishes the fixed host port 16379: each environment its own
    lab.env["AGENTLAB_ENV"] = "dev"
    dev = lab("up", "--version", "1.1.0")
    assert dev.code == 0, dev.err
    del lab.env["AGENTLAB_ENV"]
    prod = lab("-e", "prod", "up", "--version", "1.0.0")
    assert prod.code == 0, prod.err
    assert published(lab, "dev", "cache", 7000) != published(lab, "prod", "cache", 7000)

    rows = {r["service"]: r for r in lab("diff", "dev", "prod", "--json").json()["services"]}
    assert not rows["web"]["same"] and rows["cache"]["same"]

    refused = lab("-e", "prod", "rollout", "web", "--to", "1.1.1-dev.3")
    assert refused.code == 2 and "prod refuses the prerelease" in refused.err
    dev_image = image_ids(lab, "dev", "web")
    promoted = lab("promote", "web", "--from", "dev", "--to", "prod")
    assert promoted.code == 0, promoted.err
    assert image_ids(lab, "prod", "web") == dev_image
    unknown = lab("-e", "qa", "status")
    assert unknown.code == 2 and "known environments: dev, staging, prod" in unknown.err


@pytest.fixture
def webapp_registry_envs(webapp_images: None, tmp_path: Path) -> Iterator[LabRun]:
    """The webapp project with `registry: {port: 0}`: its default prod requires a lock."""
    copy = tmp_path / "webapp"
    shutil.copytree(WEBAPP.parent, copy, ignore=shutil.ignore_patterns(".agentlab"))
    (copy / "agentlab.yaml").write_text("registry: {port: 0}\n", encoding="utf-8")
    yield from environment_lab(copy / "compose.yaml", "t-envlock", ["staging", "prod"])


def test_webapp_prod_runs_only_what_staging_locked(webapp_registry_envs: LabRun) -> None:
    lab = webapp_registry_envs
    version = f"9.{uuid.uuid4().int % 10**6}.0"
    next_one = version.removesuffix(".0") + ".1"
    prod_label = f"label=com.docker.compose.project={lab.project}-prod"
    try:
        refused = lab("-e", "prod", "up", "--set", f"web={version}")
        assert refused.code == 2 and "there is no agentlab.lock" in refused.err, refused.err
        assert f"agentlab -e staging up --set web={version}" in refused.err
        assert lab.docker("ps", "-aq", "--filter", prod_label).split() == []
        up = lab("-e", "staging", "up", "--set", f"web={version}", timeout=900)
        assert up.code == 0 and "pushed" in up.err, up.err  # built on the fly, pushed
        for step in (("images", "push", "--service", "cache"), ("lock",)):
            done = lab("-e", "staging", *step)
            assert done.code == 0, (step, done.err)
        staging_web = {r["digest"] for r in env_status(lab, "staging")["web"]["replicas"]}
        assert len(staging_web) == 1 and None not in staging_web

        prod = lab("-e", "prod", "up", "--set", f"web={version}")
        assert prod.code == 0, prod.err
        status = env_status(lab, "prod")
        assert {r["digest"] for r in status["web"]["replicas"]} == staging_web
        for service in ("web", "cache"):  # cache, not asked for, by its locked digest too
            assert all("@sha256:" in r["image"] for r in status[service]["replicas"]), service
        before = image_ids(lab, "prod", "web")
        refused = lab("-e", "prod", "rollout", "web", "--to", "1.1.0")
        assert refused.code == 2 and f"it lists web at {version}" in refused.err, refused.err
        assert image_ids(lab, "prod", "web") == before
        # pinned by the registry's digest, web still builds into the files' repository
        built = lab("-e", "prod", "images", "build", "--service", "web", "--version", next_one)
        assert built.code == 0, built.err
        assert lab.docker("image", "inspect", "-f", "{{.Id}}", f"agentlab-test/web:{next_one}")
    finally:
        for tag in (version, next_one):
            subprocess.run(["docker", "image", "rm", f"agentlab-test/web:{tag}"],
                           capture_output=True, check=False, timeout=60)  # fmt: skip
