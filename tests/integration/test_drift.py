"""Drift on the real engine: a replica started outside agentlab on another image, reported by
`agentlab watch` after its event and by `drift`, `status` (demo lab and webapp); a tag
retagged to another build, reported as moved while the replicas keep the decided image."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import LabRun
from tests.integration.test_canary import Background

pytestmark = pytest.mark.engine


STRANGERS: list[str] = []


@pytest.fixture(autouse=True)
def no_stranger_left() -> Iterator[None]:
    """`compose down` leaves a container it did not create: remove the test's own."""
    yield
    while STRANGERS:
        subprocess.run(["docker", "rm", "-f", STRANGERS.pop()], capture_output=True,
                       timeout=60, check=False)  # fmt: skip


def start_stranger(lab: LabRun, service: str, image: str) -> str:
    """`docker run` a container on `image` that Compose and agentlab count as a replica of
    `service` (the project's labels), as someone would outside agentlab; its name."""
    name = f"{lab.project}-{service}-9"
    STRANGERS.append(name)
    lab.docker("run", "-d", "--name", name,
               "--label", f"com.docker.compose.project={lab.project}",
               "--label", f"com.docker.compose.service={service}",
               "--label", "com.docker.compose.container-number=9",
               "--label", "com.docker.compose.oneoff=False", image)  # fmt: skip
    return name


def replica_drifts(lab: LabRun) -> dict[str, str]:
    """Subject -> kind of each drift `agentlab drift --json` reports (it exits 1)."""
    report = lab("drift", "--json")
    assert report.code == 1, report.err
    return {d["subject"]: d["kind"] for d in report.json()["drift"]}


@pytest.mark.usefixtures("demo_images")
def test_a_replica_started_outside_agentlab_is_reported_after_its_event(
    demo_lab: LabRun,
) -> None:
    assert demo_lab("up", "--version", "v1.3.0").code == 0
    clean = demo_lab("drift")
    assert clean.code == 0, clean.out + clean.err
    assert clean.out.startswith("no drift: ")
    watch = Background(demo_lab, "watch", "--json", "--duration", "300")
    try:
        stranger = start_stranger(demo_lab, "agent", "agentlab-demo/agent:1.2.0")
        found = watch.until("drift", subject=stranger)
        assert found["service"] == "agent" and "agentlab-demo/agent:1.2.0" in found["reason"]
    finally:
        watch.process.kill()
        watch.process.wait(30)
    assert replica_drifts(demo_lab) == {stranger: "replica_image"}
    agent = next(s for s in demo_lab("status", "--json").json()["services"]
                 if s["service"] == "agent")  # fmt: skip
    marked = {r["container"]: r["drift"] for r in agent["replicas"]}
    assert marked.pop(stranger).startswith(f"{stranger} runs image ")
    assert set(marked.values()) == {None}
    fixed = demo_lab("rollout", "agent", "--to", "1.3.0")  # the drift's hint
    assert fixed.code == 0, fixed.err
    assert demo_lab("drift").code == 0
    assert stranger not in demo_lab.containers()


@pytest.fixture
def moving_tag(webapp_lab: LabRun) -> Iterator[str]:
    """A tag of its own (web 1.0.0's build) for this test to move; removed afterwards."""
    tag = f"agentlab-test/web:9.0.0-t{uuid.uuid4().hex[:8]}"
    webapp_lab.docker("tag", "agentlab-test/web:1.0.0", tag)
    yield tag
    subprocess.run(["docker", "image", "rm", tag], capture_output=True, timeout=60, check=False)


@pytest.mark.usefixtures("webapp_images")
def test_a_moved_tag_is_reported_and_the_replicas_keep_the_decided_image(
    webapp_lab: LabRun, moving_tag: str
) -> None:
    webapp_lab.env["WEBAPP_CACHE_PORT"] = "0"
    version = moving_tag.rsplit(":", 1)[1]
    up = webapp_lab("up", "--version", version)
    assert up.code == 0, up.err
    decided = webapp_lab.docker("image", "inspect", "-f", "{{.Id}}", moving_tag).strip()
    webapp_lab.docker("tag", "agentlab-test/web:1.1.0", moving_tag)  # re-pushed elsewhere
    drifts = replica_drifts(webapp_lab)
    assert drifts == {moving_tag: "tag_moved"}  # the replicas still run the decided image
    report = webapp_lab("drift")
    assert f"tag {moving_tag} moved: revision 1 ran image {decided[7:19]}" in report.out
    assert "agentlab rollback web --to-revision 1" in report.out
    stranger = start_stranger(webapp_lab, "web", moving_tag)  # a replica on the moved tag
    assert replica_drifts(webapp_lab) == {moving_tag: "tag_moved", stranger: "replica_image"}
