"""The lab's registry on the real engine: builds push and status shows sha256 digests,
`lock` then `up --locked` runs them (fetching a missing one), a tag moved in the registry
does not move a locked service or a rollback, and a registry that does not answer is
exit 3 with nothing changed. On a copy of the demo lab and on a copy of the webapp project
(with an agentlab.yaml that turns the registry on), each with its own registry on a free
port."""

from __future__ import annotations

import http.client
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEMO, WEBAPP, LabRun, Result, base_image_env, lab_run, registry_address
from tests.integration.test_rollout import Sampler

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("registry_image")]


@pytest.fixture(scope="session")
def registry_image() -> None:
    image = base_image_env().get("AGENTLAB_REGISTRY_IMAGE")
    if image is None:
        pytest.fail("no registry image: run scripts/lib.sh ensure_registry_image")


@pytest.fixture
def demo_copy(tmp_path: Path, demo_images: None) -> Iterator[LabRun]:
    """The demo lab copied out of the package, so its agentlab.lock is this test's own."""
    copy = tmp_path / "demo"
    shutil.copytree(DEMO.parent, copy)
    yield from lab_run(copy / "compose.yaml", "t-reg-demo", base_image_env())


@pytest.fixture
def webapp_copy(tmp_path: Path, webapp_images: None) -> Iterator[LabRun]:
    """The webapp project with `registry: {port: 0}` in an agentlab.yaml of its own."""
    copy = tmp_path / "webapp"
    shutil.copytree(WEBAPP.parent, copy, ignore=shutil.ignore_patterns(".agentlab"))
    (copy / "agentlab.yaml").write_text("registry: {port: 0}\n", encoding="utf-8")
    env = {**base_image_env(), "WEBAPP_CACHE_PORT": "0"}
    yield from lab_run(copy / "compose.yaml", "t-reg-web", env)


def manifest_digest(address: str, repository: str, tag: str) -> str | None:
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    connection.request("HEAD", f"/v2/{repository}/manifests/{tag}", headers={"Accept": accept})
    response = connection.getresponse()
    connection.close()
    return response.getheader("Docker-Content-Digest") if response.status == 200 else None


def ok(result: Result) -> None:
    assert result.code == 0, result.err


def replicas(lab: LabRun, service: str) -> list[dict[str, str]]:
    status = lab("status", "--json")
    assert status.code == 0, status.err
    found = next(s for s in status.json()["services"] if s["service"] == service)
    return list(found["replicas"])


def image_id(lab: LabRun, ref: str) -> str:
    return lab.docker("image", "inspect", "--format", "{{.Id}}", ref).strip()


def container_state(lab: LabRun) -> list[str]:
    """Every container of the project with its id and state: what must not change."""
    label = f"label=com.docker.compose.project={lab.project}"
    out = lab.docker("ps", "-a", "--filter", label, "--format", "{{.ID}} {{.State}} {{.Image}}")
    return sorted(out.splitlines())


def configured_images(lab: LabRun) -> list[str]:
    """The image reference each running container of the project was created from."""
    label = f"label=com.docker.compose.project={lab.project}"
    ids = lab.docker("ps", "-q", "--filter", label).split()
    return lab.docker("inspect", "--format", "{{.Config.Image}}", *ids).split()


def test_demo_lab_build_lock_locked_and_registry_down(demo_copy: LabRun) -> None:
    lab = demo_copy
    built = lab("images", "build", timeout=900)
    assert built.code == 0, built.err
    registry = registry_address(lab.state_dir / "override.yaml")
    assert registry is not None
    pushed = manifest_digest(registry, "agentlab-demo/agent", "1.3.0")
    assert pushed is not None and pushed.startswith("sha256:")
    again = lab("images", "build")  # nothing changed: nothing pushed again
    assert again.code == 0 and "pushed" not in again.err, again.err

    ok(lab("up", "--version", "1.3.0"))
    policy = lab.docker("inspect", "--format", "{{.HostConfig.RestartPolicy.Name}}",
                        f"{lab.project}-agentlab-registry-1")  # fmt: skip
    assert policy.strip() == "unless-stopped"  # back after an engine restart
    ok(lab("scale", "agent", "1"))  # fewer replicas: shorter rollouts on a busy machine
    agents = replicas(lab, "agent")
    assert {r["digest"] for r in agents} == {pushed}

    locked = lab("lock")
    assert locked.code == 0, locked.err
    lock = yaml.safe_load((lab.compose_file.parent / "agentlab.lock").read_text())
    entry = lock["environments"]["default"]["services"]["agent"]
    assert entry["digest"] == pushed and entry["version"] == "1.3.0"
    assert entry["image"] == f"{registry}/agentlab-demo/agent@{pushed}"
    assert entry["labels"]["org.opencontainers.image.version"] == "1.3.0"

    # Move the tag 1.3.0 in the registry to another build; then leave 1.3.0 locally too.
    moved = f"{registry}/agentlab-demo/agent:1.3.0"
    lab.docker("tag", "agentlab-demo/agent:1.2.0", moved)
    lab.docker("push", moved)
    assert manifest_digest(registry, "agentlab-demo/agent", "1.3.0") != pushed
    ok(lab("up", "--version", "1.2.0"))

    up = lab("up", "--locked", "--json")
    assert up.code == 0, up.err
    agents = replicas(lab, "agent")
    assert {r["digest"] for r in agents} == {pushed}
    assert {r["version"] for r in agents} == {"1.3.0"}
    assert {r["image_id"] for r in agents} == {image_id(lab, "agentlab-demo/agent:1.3.0")[7:19]}

    # A locked digest that is nowhere: exit 2, before anything changes.
    lockfile = lab.compose_file.parent / "agentlab.lock"
    nowhere = "sha256:" + "0" * 64
    lockfile.write_text(lockfile.read_text().replace(pushed, nowhere))
    override = (lab.state_dir / "override.yaml").read_text()
    before = container_state(lab)
    refused = lab("up", "--locked")
    assert refused.code == 2, refused.err
    assert "images build --service agent --version 1.3.0" in refused.err
    assert container_state(lab) == before
    assert (lab.state_dir / "override.yaml").read_text() == override

    # The registry stops answering: whatever needs it is exit 3, one line, nothing changed.
    lab.docker("stop", "-t", "2", f"{lab.project}-agentlab-registry-1")
    gateway = image_id(lab, "agentlab-demo/gateway:1.0.0")
    before = container_state(lab)
    for args in (
        ("up", "--locked"),
        ("images", "push", "--service", "gateway"),
        ("images", "pull", "agent", "1.3.0"),
        ("images", "build", "--service", "gateway", "--force"),
    ):
        down = lab(*args)
        assert down.code == 3, (args, down.err)
        assert down.err.count("\n") == 1 and "does not answer" in down.err and "hint:" in down.err
    assert image_id(lab, "agentlab-demo/gateway:1.0.0") == gateway
    assert container_state(lab) == before
    assert (lab.state_dir / "override.yaml").read_text() == override


def test_up_locked_on_the_version_that_runs_rolls_each_replica_to_the_digest(
    demo_copy: LabRun,
) -> None:
    """The lock names the bytes that run, by digest: the replicas were created from the
    tag, so `up --locked` must replace them, one at a time (it said complete with nothing
    done, and Compose then recreated every replica of every service at once)."""
    lab = demo_copy
    ok(lab("images", "build", timeout=900))  # pushed: the lock records registry digests
    ok(lab("up", "--version", "1.3.0"))
    ok(lab("lock"))
    registry = registry_address(lab.state_dir / "override.yaml")
    pushed = manifest_digest(str(registry), "agentlab-demo/agent", "1.3.0")
    assert pushed is not None
    with Sampler(lab) as sampler:
        up = lab("up", "--locked")
    ok(up)
    least, around = sampler.least_healthy()
    assert least >= 3, f"{around}\n{up.err}"
    assert up.err.count("left the name agent") == 3, up.err
    assert f"rolling agent 1.3.0 -> 1.3.0@{pushed[7:19]}" in up.err, up.err
    made_from = configured_images(lab)  # agent x3, collector, gateway, the registry
    assert made_from.count(f"{registry}/agentlab-demo/agent:1.3.0@{pushed}") == 3, made_from
    assert sum("@sha256:" in ref for ref in made_from) == 5, made_from
    before = container_state(lab)
    again = lab("up", "--locked")  # nothing left to change: nothing is recreated
    ok(again)
    assert container_state(lab) == before


def test_webapp_locked_fetch_and_rollback_to_a_moved_tag(webapp_copy: LabRun) -> None:
    lab = webapp_copy
    first, second = f"7.{uuid.uuid4().int % 10**6}.0", f"7.{uuid.uuid4().int % 10**6}.1"
    try:
        for version in (first, second):
            done = lab("images", "build", "--service", "web", "--version", version, timeout=900)
            assert done.code == 0, done.err
        registry = registry_address(lab.state_dir / "override.yaml")
        assert registry is not None
        digest = manifest_digest(registry, "agentlab-test/web", first)
        assert digest is not None
        ok(lab("images", "push", "--service", "cache"))  # built by hand
        old_id = image_id(lab, f"agentlab-test/web:{first}")

        ok(lab("up", "--set", f"web={first}"))  # revision 1
        ok(lab("scale", "web", "1"))  # fewer replicas: shorter rollouts
        assert {r["digest"] for r in replicas(lab, "web")} == {digest}
        ok(lab("lock"))

        # Rebuild `first`: its tag, here and in the registry, moves to another build.
        rebuilt = lab("images", "build", "--service", "web", "--version", first, "--force")
        assert rebuilt.code == 0, rebuilt.err
        assert manifest_digest(registry, "agentlab-test/web", first) not in (None, digest)
        assert image_id(lab, f"agentlab-test/web:{first}") != old_id

        ok(lab("up", "--set", f"web={second}"))  # revision 2
        back = lab("rollback", "web", "--to-revision", "1")
        assert back.code == 0, back.err
        web = replicas(lab, "web")
        assert {r["image_id"] for r in web} == {old_id[7:19]}  # not what the tag is now
        assert {r["digest"] for r in web} == {digest}

        # The old build only in the registry: `up --locked` fetches it (after `down`, the
        # registry is started again first).
        ok(lab("down"))
        volume = f"{lab.project}_agentlab-registry"
        assert lab.docker("volume", "ls", "-q", "--filter", f"name={volume}").split() == [volume]
        subprocess.run(["docker", "image", "rm", f"{registry}/agentlab-test/web@{digest}"],
                       capture_output=True, check=False, timeout=60)  # fmt: skip
        gone = subprocess.run(["docker", "image", "inspect", old_id], capture_output=True)
        assert gone.returncode != 0
        up = lab("up", "--locked")
        assert up.code == 0, up.err
        assert "fetching web" in up.err
        web = replicas(lab, "web")
        assert {r["digest"] for r in web} == {digest}
        assert {r["image_id"] for r in web} == {old_id[7:19]}
        ok(lab("down", "--volumes"))  # the registry's storage too
        assert lab.docker("volume", "ls", "-q", "--filter", f"name={volume}").split() == []
    finally:
        lab("down", "--volumes")
        for version in (first, second):
            subprocess.run(["docker", "image", "rm", f"agentlab-test/web:{version}"],
                           capture_output=True, check=False, timeout=60)  # fmt: skip


def test_versions_built_on_the_fly_are_pushed_and_lockable(webapp_copy: LabRun) -> None:
    lab = webapp_copy
    first, second = f"8.{uuid.uuid4().int % 10**6}.0", f"8.{uuid.uuid4().int % 10**6}.1"
    try:
        ok(lab("images", "push", "--service", "cache"))  # built by hand, as a user would
        up = lab("up", "--set", f"web={first}", timeout=900)  # not built yet: up builds it
        assert up.code == 0, up.err
        assert f"building agentlab-test/web:{first}" in up.err and "pushed" in up.err, up.err
        registry = registry_address(lab.state_dir / "override.yaml")
        assert registry is not None
        digest = manifest_digest(registry, "agentlab-test/web", first)
        assert digest is not None and {r["digest"] for r in replicas(lab, "web")} == {digest}
        ok(lab("scale", "web", "1"))  # fewer replicas: a shorter rollout
        locked = lab("lock")  # no `images push` needed
        assert locked.code == 0, locked.err
        lock = yaml.safe_load((lab.compose_file.parent / "agentlab.lock").read_text())
        assert lock["environments"]["default"]["services"]["web"]["digest"] == digest

        rolled = lab("rollout", "web", "--to", second, timeout=900)  # built by the rollout
        assert rolled.code == 0, rolled.err
        assert f"pushed {registry}/agentlab-test/web:{second}" in rolled.out + rolled.err
        pushed = manifest_digest(registry, "agentlab-test/web", second)
        assert pushed is not None and {r["digest"] for r in replicas(lab, "web")} == {pushed}
    finally:
        lab("down", "--volumes")
        for version in (first, second):
            subprocess.run(["docker", "image", "rm", f"agentlab-test/web:{version}"],
                           capture_output=True, check=False, timeout=60)  # fmt: skip
