"""Drift against the lock, the registry and the other environments, on the real engine.

Demo lab (a copy, with its registry on a free port): `agent:1.3.0` retagged in the
registry to another build is a moved tag (exit 1) while `up --locked` still runs the
locked digest; a version the lock does not list is `not_locked`; a registry that does not
answer is one line and exit 3 (and `watch` says that line too). Webapp project in dev and
prod: the same version of `web` built twice runs other bytes in each environment
(`environment_differs`); different versions in each are not drift."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DEMO, WEBAPP, LabRun, Result, base_image_env, lab_run, registry_address
from tests.integration.test_environments import environment_lab, image_ids
from tests.integration.test_registry import manifest_digest, replicas

pytestmark = pytest.mark.engine


def ok(result: Result) -> None:
    assert result.code == 0, result.out + result.err


def drifts(lab: LabRun, *env: str, code: int = 1) -> dict[str, str]:
    """Subject -> kind of each drift `drift --json` reports, which exits `code`."""
    report = lab(*env, "drift", "--json")
    assert report.code == code, report.out + report.err
    return {d["subject"]: d["kind"] for d in report.json()["drift"]}


@pytest.fixture
def demo_copy(tmp_path: Path, demo_images: None) -> Iterator[LabRun]:
    """The demo lab copied out of the package (its agentlab.lock is this test's own)."""
    image = base_image_env().get("AGENTLAB_REGISTRY_IMAGE")
    if image is None:
        pytest.fail("no registry image: run scripts/lib.sh ensure_registry_image")
    copy = tmp_path / "demo"
    shutil.copytree(DEMO.parent, copy)
    yield from lab_run(copy / "compose.yaml", "t-drlock", base_image_env())


def test_a_tag_moved_in_the_registry_is_drift_and_up_locked_keeps_the_locked_digest(
    demo_copy: LabRun,
) -> None:
    lab = demo_copy
    built = lab("images", "build", timeout=900)  # the catalogue is here: pushes only
    assert built.code == 0, built.err
    registry = registry_address(lab.state_dir / "override.yaml")
    assert registry is not None
    pushed = manifest_digest(registry, "agentlab-demo/agent", "1.3.0")
    assert pushed is not None
    ok(lab("up", "--version", "1.3.0"))
    ok(lab("scale", "agent", "1"))  # fewer replicas: shorter rollouts on a busy machine
    ok(lab("lock"))
    clean = lab("drift")
    assert clean.code == 0 and clean.out.startswith("no drift: "), clean.out + clean.err
    assert lab("drift", "--json").json()["registry"] == registry

    # Someone re-pushes agent:1.3.0 to another build (1.2.0's); the local tag stays.
    moved = f"{registry}/agentlab-demo/agent:1.3.0"
    lab.docker("tag", "agentlab-demo/agent:1.2.0", moved)
    lab.docker("push", moved)
    now = manifest_digest(registry, "agentlab-demo/agent", "1.3.0")
    assert now not in (None, pushed)
    assert drifts(lab) == {moved: "tag_moved"}
    text = lab("drift")
    assert text.code == 1
    assert f"agent: tag {moved} moved in the registry to sha256:{now[7:19]}" in text.out
    assert f"section default has sha256:{pushed[7:19]}" in text.out
    assert "(hint: agentlab up --locked runs the locked digest" in text.out

    # A version the lock does not list runs: not_locked (one line for the service).
    ok(lab("up", "--version", "1.2.0"))
    assert drifts(lab) == {moved: "tag_moved", "agent": "not_locked"}

    # up --locked runs the locked digest, not what the registry's tag names now.
    ok(lab("up", "--locked"))
    agents = replicas(lab, "agent")
    assert {r["digest"] for r in agents} == {pushed}
    assert {r["version"] for r in agents} == {"1.3.0"}
    assert drifts(lab) == {moved: "tag_moved"}  # the tag is still moved; the replicas are not

    # The registry hangs (paused: its port still accepts), then stops: each time one line,
    # exit 3 when nothing else is known to differ; drift does not wait for it.
    container = f"{lab.project}-agentlab-registry-1"
    lab.docker("pause", container)
    try:
        stuck = lab("drift", timeout=60)
        assert stuck.code == 3, stuck.out + stuck.err
        assert f"unknown: the registry at {registry} does not answer" in stuck.out
    finally:
        lab.docker("unpause", container)
    lab.docker("stop", "-t", "2", container)
    down = lab("drift")
    assert down.code == 3, down.out + down.err
    [line] = [x for x in down.out.splitlines() if x.startswith("unknown: ")]
    assert f"the registry at {registry} does not answer" in line and "hint:" in line
    watched = lab("watch", "--duration", "15", timeout=120)  # its first reading, at once
    assert watched.code == 0, watched.out + watched.err
    assert line in watched.out.splitlines()  # said as drift says it
    assert lab("drift", "--json").json()["unknown"].startswith("the registry at ")
    assert lab("status").code == 0  # status does not ask the registry


@pytest.fixture
def webapp_copy(tmp_path: Path, webapp_images: None) -> Iterator[LabRun]:
    """The webapp project with `registry: {port: 0}` in an agentlab.yaml of its own."""
    copy = tmp_path / "webapp"
    shutil.copytree(WEBAPP.parent, copy, ignore=shutil.ignore_patterns(".agentlab"))
    (copy / "agentlab.yaml").write_text("registry: {port: 0}\n", encoding="utf-8")
    yield from lab_run(copy / "compose.yaml", "t-drweb", {**base_image_env(),
                                                          "WEBAPP_CACHE_PORT": "0"})  # fmt: skip


def test_webapp_a_tag_repushed_in_the_registry_is_drift_locked_or_not(
    web_version: list[str], webapp_copy: LabRun
) -> None:
    lab, version = webapp_copy, web_version[0]
    built = lab("images", "build", "--service", "web", "--version", version, timeout=900)
    assert built.code == 0, built.err
    ok(lab("images", "push", "--service", "cache"))  # built by hand
    registry = registry_address(lab.state_dir / "override.yaml")
    assert registry is not None
    pushed = manifest_digest(registry, "agentlab-test/web", version)
    assert pushed is not None
    ok(lab("up", "--set", f"web={version}"))
    ok(lab("scale", "web", "1"))
    assert drifts(lab, code=0) == {}

    # Not locked: the registry's tag is compared with the build pushed from here.
    moved = f"{registry}/agentlab-test/web:{version}"
    lab.docker("tag", "agentlab-test/web:1.0.0", moved)
    lab.docker("push", moved)
    assert drifts(lab) == {moved: "tag_moved"}
    assert f"images push --service web --version {version}" in lab("drift").out
    ok(lab("images", "push", "--service", "web", "--version", version))  # the hint
    assert manifest_digest(registry, "agentlab-test/web", version) == pushed
    assert drifts(lab, code=0) == {}

    # Locked: moved again, reported against the lock; up --locked keeps the locked digest.
    ok(lab("lock"))
    lab.docker("tag", "agentlab-test/web:1.0.0", moved)  # the push above retagged it
    lab.docker("push", moved)
    assert drifts(lab) == {moved: "tag_moved"}
    ok(lab("up", "--locked"))
    assert {r["digest"] for r in replicas(lab, "web")} == {pushed}
    assert drifts(lab) == {moved: "tag_moved"}


@pytest.fixture
def webapp_envs(webapp_images: None) -> Iterator[LabRun]:
    yield from environment_lab(WEBAPP, "t-drenv", ["dev", "prod"])


@pytest.fixture
def web_version() -> Iterator[list[str]]:
    """A version of web of this test's own: [version, then the image ids built for it],
    removed once the environments are down (request it before them)."""
    made = [f"8.{uuid.uuid4().int % 10**6}.0"]
    yield made
    subprocess.run(["docker", "image", "rm", f"agentlab-test/web:{made[0]}", *made[1:]],
                   capture_output=True, timeout=60, check=False)  # fmt: skip


def test_the_same_version_on_other_bytes_in_two_environments_is_drift(
    web_version: list[str], webapp_envs: LabRun
) -> None:
    lab, version = webapp_envs, web_version[0]
    ok(lab("-e", "dev", "up", "--version", "1.1.0"))
    ok(lab("-e", "prod", "up", "--version", "1.0.0"))
    assert drifts(lab, "-e", "prod", code=0) == {}  # other versions: diff's job
    report = lab("-e", "prod", "drift", "--json").json()
    assert report["environments"] == ["dev"]

    built = lab("images", "build", "--service", "web", "--version", version, timeout=900)
    assert built.code == 0, built.err
    web_version.append(
        lab.docker("image", "inspect", "-f", "{{.Id}}", f"agentlab-test/web:{version}").strip()
    )
    ok(lab("-e", "dev", "rollout", "web", "--to", version))
    rebuilt = lab("images", "build", "--service", "web", "--version", version, "--force",
                  timeout=900)  # fmt: skip
    assert rebuilt.code == 0, rebuilt.err
    ok(lab("-e", "prod", "rollout", "web", "--to", version))
    assert image_ids(lab, "dev", "web") != image_ids(lab, "prod", "web")

    assert drifts(lab, "-e", "prod") == {"dev": "environment_differs"}
    line = lab("-e", "prod", "drift").out
    assert f"web: web {version} runs image " in line and " here (prod) and image " in line
    assert "agentlab promote web --from dev --to prod" in line
    # dev: the same difference, and its tag moved since its revision
    assert drifts(lab, "-e", "dev") == {
        "prod": "environment_differs",
        f"agentlab-test/web:{version}": "tag_moved",
    }
    ok(lab("promote", "web", "--from", "prod", "--to", "dev"))
    assert drifts(lab, "-e", "prod", code=0) == {}


@pytest.fixture
def webapp_envs_copy(tmp_path: Path, webapp_images: None) -> Iterator[LabRun]:
    """webapp copied (its agentlab.yaml is the test's own), in dev and prod."""
    copy = tmp_path / "webapp"
    shutil.copytree(WEBAPP.parent, copy, ignore=shutil.ignore_patterns(".agentlab"))
    yield from environment_lab(copy / "compose.yaml", "t-drcopy", ["dev", "prod"])


def test_an_image_without_a_version_label_whose_tag_moved_is_still_compared(
    web_version: list[str], webapp_envs_copy: LabRun
) -> None:
    """web built by hand (no OCI version label), twice under one tag: dev runs the first
    build, prod the second. Docker lists dev's containers by image id once the tag moved;
    prod's drift still finds dev on the same version (its tag) on other bytes. Promoting
    dev's build into a prod that requires a lock says the tag moved."""
    lab, version = webapp_envs_copy, web_version[0]
    tag = f"agentlab-test/web:{version}"

    def build(nonce: str) -> None:
        base = base_image_env()["AGENTLAB_BASE_IMAGE"]
        lab.docker("build", "-q", "--build-arg", f"BASE_IMAGE={base}", "--build-arg",
                   f"VERSION={version}", "--label", f"io.agentlab.test={nonce}", "-t", tag,
                   str(WEBAPP.parent / "web"))  # fmt: skip
        web_version.append(lab.docker("image", "inspect", "-f", "{{.Id}}", tag).strip())

    build("first")
    assert (
        lab.docker("image", "inspect", "-f", "{{json .Config.Labels}}", tag).count(
            "org.opencontainers.image.version"
        )
        == 0
    )
    ok(lab("-e", "dev", "up", "--version", version))
    build("second")  # the tag moves; dev's containers still run the first build
    listed = lab.docker("ps", "--filter", f"label=com.docker.compose.project={lab.project}-dev",
                        "--filter", "label=com.docker.compose.service=web",
                        "--format", "{{.Image}}").split()  # fmt: skip
    assert listed and tag not in listed  # what the list shows: an image id
    ok(lab("-e", "prod", "up", "--version", version))
    assert image_ids(lab, "dev", "web") != image_ids(lab, "prod", "web")
    assert drifts(lab, "-e", "prod") == {"dev": "environment_differs"}
    line = lab("-e", "prod", "drift").out
    assert f"web: web {version} runs image {web_version[2][7:19]} here (prod) and image " in line

    settings = "environments: {dev: {}, prod: {policy: {require_lock: true}}}\n"
    (lab.compose_file.parent / "agentlab.yaml").write_text(settings, encoding="utf-8")
    refused = lab("promote", "web", "--from", "dev", "--to", "prod")
    assert refused.code == 2, refused.err
    assert (
        f"web: the tag {tag} moved: it names image {web_version[2][7:19]} now, not the image "
        f"{web_version[1][7:19]} that dev runs (hint: agentlab -e dev rollout web --to {version}"
    ) in refused.err
