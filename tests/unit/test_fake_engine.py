"""The fake engine behaves like the protocol says, step by step."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agentlab.common.errors import EngineUnavailable
from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import NO_HEALTHCHECK, Behaviour, exits
from agentlab.engine.protocol import Engine
from agentlab.lab.model import EngineFactory
from agentlab.project.config import LabSettings
from agentlab.project.location import Project
from agentlab.state.override import update_override


def test_behaviours_follow_polls() -> None:
    fake = FakeEngine()
    fake.add_image("app:1", Behaviour(healthy_after=2), exits(after=2, code=4), NO_HEALTHCHECK)
    fake.pin("app", "app:1")
    ids = fake.add_replicas("app", 3)
    first = {r.id: (r.state, r.health) for r in fake.replicas("app")}
    assert [first[i] for i in ids] == [
        ("running", "starting"),
        ("running", "starting"),
        ("running", None),
    ]
    second = {r.id: (r.state, r.health, r.exit_code) for r in fake.replicas("app")}
    assert [second[i] for i in ids] == [
        ("running", "healthy", 0),
        ("exited", "starting", 4),
        ("running", None, 0),
    ]
    assert fake.logs_tail(ids[1]) == "fatal: boom"


def test_replicas_carry_image_and_version() -> None:
    fake = FakeEngine(project="demo")
    info = fake.add_image("registry:5000/app:1.2.0", digest="sha256:abc")
    fake.add_service("app", "registry:5000/app:1.2.0", replicas=2)
    replicas = fake.replicas("app")
    assert [r.name for r in replicas] == ["demo-app-1", "demo-app-2"]
    assert {(r.image_id, r.version, r.health) for r in replicas} == {(info.id, "1.2.0", "healthy")}
    assert fake.image("registry:5000/app:1.2.0") == info
    assert fake.image("registry:5000/app:9") is None
    assert fake.images("registry:5000/app") == [info]
    assert fake.digests([info.id]) == {info.id: "sha256:abc"}


def test_up_scales_and_recreates_at_the_pinned_image() -> None:
    fake: Engine = FakeEngine()
    assert isinstance(fake, FakeEngine)
    fake.add_image("app:1")
    fake.add_image("app:2")
    fake.add_service("app", "app:1", replicas=2)
    fake.up(["app"], scales={"app": 3}, recreate=False)
    assert fake.images_of("app") == ["app:1"] * 3
    fake.pin("app", "app:2")
    fake.up(["app"])
    assert fake.images_of("app") == ["app:2"] * 3
    app = fake.services()["app"]
    assert (app.image, app.replicas) == ("app:2", 3)
    fake.down()
    assert fake.containers == {}
    assert [e.action for e in fake.hub.log].count("destroy") == 6


def test_stop_remove_kill_and_records() -> None:
    fake = FakeEngine()
    fake.add_image("app:1")
    [one, two] = fake.add_service("app", "app:1", replicas=2)
    fake.stop_replica(one, 5)
    fake.kill_replica(two)
    assert {r.id: r.exit_code for r in fake.replicas("app")} == {one: 0, two: 137}
    fake.remove_replica(one)
    assert [r.id for r in fake.replicas()] == [two]
    assert fake.called("stop_replica") == [(one, 5)]
    assert fake.observations.max_total("app") == 2
    assert fake.observations.min_ready("app") == 0


def test_check_can_fail() -> None:
    fake = FakeEngine(unavailable=True)
    with pytest.raises(EngineUnavailable):
        fake.check()


def test_it_reads_agentlabs_override_as_compose_does(tmp_path: Path) -> None:
    fake = FakeEngine()
    fake.add_image("app:1")
    fake.add_image("app:2")
    fake.add_service("app", "app:1")
    factory: EngineFactory = fake.attach
    project = Project((tmp_path / "compose.yaml",), LabSettings(), None)
    assert factory(project, "shop", tmp_path / "override.yaml") is fake
    assert fake.project == "shop"
    update_override(tmp_path / "override.yaml", pins={"app": "app:2"}, scales={"app": 2})
    assert fake.services()["app"].image == "app:2"
    [added] = fake.add_replicas("app", 1)
    assert fake.containers[added].image_ref == "app:2"
    assert fake.services()["app"].replicas == 2


def test_it_serves_one_call_at_a_time_and_streams_events_live() -> None:
    fake = FakeEngine()
    fake.add_image("app:1")
    stream = fake.events()
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(e.action for e in stream))
    reader.start()
    fake.pin("app", "app:1")
    with fake.lock:  # another thread's call waits for this one
        worker = threading.Thread(target=fake.add_replicas, args=("app", 2))
        worker.start()
        worker.join(0.2)
        assert worker.is_alive() and fake.containers == {}
    worker.join(5)
    fake.stop_events()
    reader.join(5)
    assert seen == ["start", "start"]
