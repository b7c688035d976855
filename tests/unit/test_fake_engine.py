"""The fake engine behaves like the protocol says, step by step."""

from __future__ import annotations

import pytest

from agentlab.engine.fake import NO_HEALTHCHECK, Behaviour, FakeEngine, exits
from agentlab.engine.protocol import Engine
from agentlab.errors import EngineUnavailable


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
    assert fake.compose_config()["services"]["app"] == {
        "image": "app:2",
        "deploy": {"replicas": 3},
    }
    fake.down()
    assert fake.containers == {}
    assert [e.action for e in fake.events()].count("destroy") == 6


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
    assert fake.max_total("app") == 2
    assert fake.min_ready("app") == 0


def test_check_can_fail() -> None:
    fake = FakeEngine(unavailable=True)
    with pytest.raises(EngineUnavailable):
        fake.check()
