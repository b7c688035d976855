"""A user's own project on the fake engine: services Compose builds from source are
managed, built on demand and rolled back without a rebuild; a fixed host port rolls
stop-first with its downtime said; a busy port stops `up` before anything changes."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from agentlab.common.errors import BadInput
from agentlab.engine.fake import FakeEngine
from agentlab.engine.model import BuildSection, PublishedPort
from agentlab.lab.facade import Lab
from agentlab.project.config import load_settings
from agentlab.project.location import Project
from agentlab.rollout.events import BuildProgress, RolloutEvent, RolloutStarted

BASE = "lab/base:1"


def git(directory: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(directory), *args], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """The web service's build context: a Dockerfile on a base that is local."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "Dockerfile").write_text(f"ARG BASE_IMAGE={BASE}\nFROM ${{BASE_IMAGE}} AS builder\n")
    return app


@pytest.fixture
def fake(source: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """`web` built from source (image shop-web:latest, as Compose names it), fixed port."""
    monkeypatch.setenv("AGENTLAB_BASE_IMAGE", BASE)
    engine = FakeEngine(nap=0.0)
    engine.add_image(BASE)
    engine.add_image("shop-web:latest")
    engine.builds["web"] = BuildSection(str(source), target="builder")
    engine.host_ports["web"] = (PublishedPort(8000, 8000, "127.0.0.1"),)
    engine.add_service("web", "shop-web:latest")
    return engine


@pytest.fixture
def lab(tmp_path: Path, fake: FakeEngine) -> Lab:
    compose = tmp_path / "compose.yaml"
    compose.write_text('services:\n  web:\n    ports: ["127.0.0.1:${WEB_PORT:-8000}:8000"]\n')
    (tmp_path / "agentlab.yaml").write_text("rollout: {monitor: 0}\n")
    return Lab(Project((compose,), load_settings(tmp_path), "shop"), engine_factory=fake.attach)


def test_a_built_service_is_managed_and_primary(lab: Lab) -> None:
    assert lab.managed == ["web"] and lab.primary == ["web"]
    rows = lab.versions("web")["web"]
    assert [(r.version, r.current, r.blocked is not None) for r in rows] == [("latest", True, True)]


def test_a_missing_version_is_built_on_demand_then_rolled_out_stop_first(
    lab: Lab, fake: FakeEngine
) -> None:
    events: list[RolloutEvent] = []
    result = lab.rollout("web", "1.2.0", emit=events.append)
    assert result.outcome == "complete"
    [(service, tag, args, labels)] = fake.called("build_service")
    assert (service, tag) == ("web", "shop-web:1.2.0")
    assert args == {"VERSION": "1.2.0", "BASE_IMAGE": BASE}
    assert labels["org.opencontainers.image.version"] == "1.2.0"
    assert any(isinstance(e, BuildProgress) and e.image == tag for e in events)
    [started] = [e for e in events if isinstance(e, RolloutStarted)]
    assert "max surge 0, max unavailable 1" in started.settings
    assert "stop-first, expect downtime: fixed host port 127.0.0.1:8000" in started.settings
    assert result.downtime > 0 and "with no ready replica" in result.message
    assert fake.observations.max_total("web") == 1  # never two containers on one host port


def test_a_version_to_build_on_the_way_needs_its_base_in_the_dry_run_too(
    lab: Lab, fake: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry run said `first build` and exited 0 where the rollout itself was refused
    for want of the base image."""
    monkeypatch.setenv("AGENTLAB_BASE_IMAGE", "lab/absent:1")
    with pytest.raises(BadInput, match="base image lab/absent:1 of web is not present"):
        lab.plan_rollout("web", "1.2.0")
    assert fake.called("build_service") == []


def test_asking_for_a_surge_on_a_fixed_port_is_refused(lab: Lab, fake: FakeEngine) -> None:
    with pytest.raises(BadInput, match="cannot run a new replica beside an old one"):
        lab.rollout("web", "1.2.0", {"max_surge": "1"})
    assert fake.called("add_replicas") == []


def test_a_rollback_needs_no_rebuild(lab: Lab, fake: FakeEngine) -> None:
    assert lab.rollout("web", "1.2.0").outcome == "complete"
    assert lab.rollout("web", "1.3.0").outcome == "complete"
    assert lab.rollback("web", None).outcome == "complete"
    assert [tag for _, tag, _, _ in fake.called("build_service")] == [
        "shop-web:1.2.0",
        "shop-web:1.3.0",
    ]
    assert {c.image_ref for c in fake.of("web")} == {"shop-web:1.2.0"}


def test_up_builds_what_is_missing_and_never_lets_compose_build(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLAB_BASE_IMAGE", BASE)
    fake = FakeEngine(nap=0.0)
    fake.add_image(BASE)
    fake.builds["web"] = BuildSection(str(source))
    fake.pin("web", "shop-web")  # nothing built yet: Compose would build `latest`
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n")
    (tmp_path / "agentlab.yaml").write_text("rollout: {monitor: 0}\n")
    lab = Lab(Project((compose,), load_settings(tmp_path), "shop"), engine_factory=fake.attach)
    lines: list[str] = []
    lab.up(None, {}, 30, lines.append)
    assert [tag for _, tag, _, _ in fake.called("build_service")] == ["shop-web:latest"]
    [(_, _, _, labels)] = fake.called("build_service")
    assert "org.opencontainers.image.version" not in labels  # `latest` is no version
    assert "[1/1] building shop-web:latest" in lines
    status = lab.up("1.0.0", {}, 30, lines.append)
    assert {r.image_ref for s in status.services for r in s.replicas} == {"shop-web:1.0.0"}


def test_a_busy_host_port_stops_up_before_anything_changes(
    lab: Lab, fake: FakeEngine, busy_port: int
) -> None:
    fake.host_ports["web"] = (PublishedPort(8000, busy_port, "127.0.0.1"),)
    fake.down()
    with pytest.raises(BadInput) as raised:
        lab.up("1.2.0", {}, 30)
    assert raised.value.one_line() == (
        f"port {busy_port} (127.0.0.1) of service web is already in use "
        "(hint: stop what listens there, or run with WEB_PORT=0 for a free port)"
    )
    assert fake.called("build_service") == [] and fake.called("up") == []
    assert not lab.override_path.exists()


def test_a_port_only_closed_connections_hold_is_free(lab: Lab, fake: FakeEngine) -> None:
    """A port that served a moment ago (`down`, then `up` at once) keeps TIME-WAIT entries
    for a minute; the engine binds it all the same, so `up` does not refuse it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as docker-proxy's
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            served, _ = listener.accept()
            served.close()  # the server closes first: TIME-WAIT on the port itself
            client.recv(1)
    fake.host_ports["web"] = (PublishedPort(8000, port, "127.0.0.1"),)
    fake.down()
    lab.up("1.2.0", {}, 30)
    assert fake.called("up")


def test_a_container_of_another_project_on_a_replica_name_stops_up_before_anything_changes(
    lab: Lab, fake: FakeEngine
) -> None:
    fake.down()
    fake.foreign[f"{lab.name}-web-1"] = "other"
    fake.foreign[f"{lab.name}-web-2"] = "other"  # a name web's one replica does not take
    with pytest.raises(BadInput) as raised:
        lab.up("1.2.0", {}, 30)
    assert raised.value.one_line() == (
        f"container {lab.name}-web-1 (of compose project other) already holds a name service "
        f"web needs (hint: remove or rename that container (docker rm -f {lab.name}-web-1), "
        "or run this lab under another project name (-p NAME))"
    )
    assert fake.called("build_service") == [] and fake.called("up") == []
    assert not lab.override_path.exists()


def test_images_build_from_git_tags_a_prerelease_for_a_dirty_tree(
    lab: Lab, fake: FakeEngine, source: Path
) -> None:
    git(source, "init", "-q")
    git(source, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty",
        "-m", "one")  # fmt: skip
    git(source, "tag", "v1.4.0")
    (source / "Dockerfile").write_text(f"FROM {BASE}\n")  # untracked: not dirty for git
    git(source, "add", "Dockerfile")  # staged: dirty
    commit = git(source, "rev-parse", "--short", "HEAD")
    [tag] = lab.build_images(None, "web", False, None, lambda _: None, from_git=True)
    assert tag == f"shop-web:1.4.1-dev.0_g{commit}.dirty"
    [(_, _, args, labels)] = fake.called("build_service")
    assert args["VERSION"] == f"1.4.1-dev.0+g{commit}.dirty"
    assert labels["org.opencontainers.image.revision"].endswith("-dirty")
    rows = {row.version: row for row in lab.versions("web")["web"]}
    assert rows[f"1.4.1-dev.0_g{commit}.dirty"].blocked is None  # a semver tag
    with pytest.raises(BadInput, match="exclude each other"):
        lab.build_images("1.0.0", "web", False, None, lambda _: None, from_git=True)
