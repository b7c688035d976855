"""The compose model as agentlab reads it: replicas, blockers, durations, image refs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agentlab.common.durations import parse_duration
from agentlab.common.errors import BadInput
from agentlab.common.imagerefs import same_image_ref, split_image_ref
from agentlab.engine.compose_model import services_from_config
from agentlab.engine.model import PublishedPort, ServiceSpec
from agentlab.lab.catalogue import Resolved
from agentlab.lab.rollout_plan import (
    RolloutPlan,
    refuse_beside,
    refuse_unrunnable,
    stop_first_when_needed,
)
from agentlab.rollout.settings import RolloutSettings

CONFIG = {
    "services": {
        "web": {
            "image": "shop/web:1.2.0",
            "deploy": {"replicas": 3, "update_config": {"parallelism": 1, "order": "start-first"}},
            "healthcheck": {"test": ["CMD", "true"]},
            "ports": [{"target": 8000}],
            "stop_grace_period": "5s",
        },
        "db": {
            "image": "postgres",
            "container_name": "shop-db",
            "ports": [{"target": 5432, "published": "5432", "host_ip": "127.0.0.1"}],
            "healthcheck": {"test": ["NONE"]},
        },
        "api": {
            "build": {"context": "/src/api"},
            "scale": 2,
            "ports": [{"target": 80, "published": "8000-8010"}],
        },
    }
}


def test_services_from_config() -> None:
    specs = services_from_config(CONFIG)
    web, db, api = specs["web"], specs["db"], specs["api"]
    assert (web.replicas, web.repository, web.image) == (3, "shop/web", "shop/web:1.2.0")
    assert web.update_config["order"] == "start-first"
    assert web.stop_grace_period == 5.0
    assert web.surge_blockers() == []
    assert db.fixed_host_ports == (PublishedPort(5432, 5432, "127.0.0.1"),)
    assert str(db.fixed_host_ports[0]) == "127.0.0.1:5432->5432/tcp"
    assert len(db.surge_blockers()) == 2
    assert (api.replicas, api.image) == (2, None)  # no project name: no image to name
    assert api.build is not None and api.build.context == "/src/api"
    assert api.surge_blockers() == []  # a published range can hold several containers


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("a/b:1.0", ("a/b", "1.0")),
        ("a/b", ("a/b", "latest")),
        ("registry:5000/a/b", ("registry:5000/a/b", "latest")),
        ("registry:5000/a/b:v2@sha256:abc", ("registry:5000/a/b", "v2")),
    ],
)
def test_split_image_ref(ref: str, expected: tuple[str, str]) -> None:
    assert split_image_ref(ref) == expected


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("redis", "redis:latest", True),
        ("docker.io/library/redis:7", "redis:7", True),
        ("docker.io/shop/web:1.0", "shop/web:1.0", True),
        ("127.0.0.1:5000/web:1.0@sha256:ab", "127.0.0.1:5000/web:1.0@sha256:ab", True),
        ("shop/web:1.0", "shop/web:1.1", False),
        ("shop/web:1.0", "shop/web:1.0@sha256:ab", False),  # a pin by digest is a change
        ("127.0.0.1:5000/web:1.0", "web:1.0", False),
    ],
)
def test_same_image_ref(one: str, other: str, same: bool) -> None:
    assert same_image_ref(one, other) is same


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1m30s", 90.0), ("500ms", 0.5), ("2s", 2.0), (3, 3.0), ("1h", 3600.0), (None, 7.0)],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value, 7.0) == pytest.approx(seconds)


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="malformed duration"):
        parse_duration("soon")


def test_a_built_service_without_an_image_gets_the_name_compose_gives_it() -> None:
    config = {
        "name": "shop",
        "services": {
            "web": {
                "build": {"context": "/src/web", "target": "builder", "args": {"A": "1"}},
                "ports": [{"target": 8000, "published": "8000", "host_ip": "127.0.0.1"}],
            },
            "api": {"build": {"context": "/src/api"}, "image": "me/api:2"},
        },
    }
    specs = services_from_config(config)
    web = specs["web"]
    assert web.image == "shop-web" and web.repository == "shop-web"
    assert web.build is not None
    assert (web.build.target, web.build.args, web.build.dockerfile) == (
        "builder",
        {"A": "1"},
        "Dockerfile",
    )
    assert web.surge_blockers() == [
        "fixed host port 127.0.0.1:8000->8000/tcp can be bound by one container only"
    ]
    assert specs["api"].image == "me/api:2"


def test_a_lone_replica_writing_a_named_volume_rolls_stop_first_unless_asked() -> None:
    """A database's named volume (read-write, one replica): a new replica beside the old
    one would write the same files, so its rollouts go stop-first by default; anonymous
    and read-only volumes, several replicas, an asked surge or `order: start-first` not."""
    mounts = [
        {"type": "volume", "source": "db-data", "target": "/var/lib/db"},
        {"type": "volume", "target": "/tmp/anonymous"},
        {"type": "volume", "source": "shared", "target": "/srv", "read_only": True},
        {"type": "bind", "source": "/etc/x", "target": "/etc/x"},
    ]
    config = {"name": "p", "services": {"db": {"image": "db:1", "volumes": mounts}}}
    spec = services_from_config(config)["db"]
    assert spec.named_volumes == ("db-data",)
    (caution,) = spec.surge_cautions()
    assert caution == "named volume db-data would be written by two containers at once"
    plain = RolloutSettings()
    settings, rollback, note = stop_first_when_needed(spec, plain, plain, {})
    assert (settings.max_surge, rollback.max_unavailable) == ("0", "1")
    assert note == f"stop-first, expect downtime: {caution}"
    assert stop_first_when_needed(spec, plain, plain, {"max_surge": "1"}) == (plain, plain, "")
    ordered = replace(spec, update_config={"order": "start-first"})
    assert stop_first_when_needed(ordered, plain, plain, {}) == (plain, plain, "")
    assert replace(spec, replicas=2).surge_cautions() == []


def test_a_canary_on_a_lone_replica_writing_a_named_volume_is_refused_unless_it_may_share() -> None:
    """A canary runs the new replica beside the old whatever the settings: for a database's
    lone replica both would write its files, so it is refused with the stop-first way out;
    `order: start-first` (both may write) or a second replica lets it run."""
    mounts = [{"type": "volume", "source": "db-data", "target": "/var/lib/db"}]
    config = {"name": "p", "services": {"db": {"image": "db:1", "volumes": mounts}}}
    spec = services_from_config(config)["db"]
    with pytest.raises(BadInput) as raised:
        refuse_beside(spec)
    assert raised.value.one_line() == (
        "a canary runs new replicas beside the old: named volume db-data would be written by "
        "two containers at once (hint: stop-first: agentlab rollout db --to VERSION --strategy "
        "rolling)"
    )
    refuse_beside(replace(spec, update_config={"order": "start-first"}))
    refuse_beside(replace(spec, replicas=2))


def test_a_rollout_to_the_same_version_by_a_locked_digest_says_which_bytes() -> None:
    """`up --locked` on the version that runs rolls to its digest: the change says which
    bytes (it read `1.3.0 -> 1.3.0`); a plain re-roll of a tag stays `1.3.0 -> 1.3.0`."""
    spec = ServiceSpec("agent", "reg/agent:1.3.0", None, 3)
    digest = "sha256:" + "0a1b2c3d4e5f" + "9" * 52
    plain = RolloutSettings()

    def change(from_image: str, to_image: str) -> str:
        target = Resolved("agent", "1.3.0", to_image)
        return RolloutPlan(spec, target, from_image, plain, plain).change

    assert change("reg/agent:1.3.0", f"reg/agent:1.3.0@{digest}") == "1.3.0 -> 1.3.0@0a1b2c3d4e5f"
    assert change("reg/agent:1.3.0", "reg/agent:1.3.0") == "1.3.0 -> 1.3.0"
    assert change(f"reg/agent:1.3.0@{digest}", f"reg/agent:1.3.0@{digest}") == "1.3.0 -> 1.3.0"
    assert change("reg/agent:1.2.0", f"reg/agent:1.3.0@{digest}") == "1.2.0 -> 1.3.0"


def test_a_host_port_range_with_no_port_to_spare_blocks_a_surge() -> None:
    """`"127.0.0.1:18101-18102:9000"` on 2 replicas: each takes one port of the range, and
    a third container would find none (the engine refused its start mid-rollout); with a
    port to spare, or fewer replicas, it surges."""
    ports = [{"target": 9000, "published": "18101-18102", "host_ip": "127.0.0.1"}]
    service = {"image": "web:1", "ports": ports, "deploy": {"replicas": 2}}
    spec = services_from_config({"name": "p", "services": {"web": service}})["web"]
    assert spec.ports == (PublishedPort(9000, None, "127.0.0.1", "tcp", (18101, 18102)),)
    assert spec.fixed_host_ports == ()
    assert spec.surge_blockers() == [
        "host port range 127.0.0.1:18101-18102->9000/tcp has 2 ports for 2 replicas: "
        "none left for another"
    ]
    assert replace(spec, replicas=1).surge_blockers() == []
    plain = RolloutSettings()
    settings, _, note = stop_first_when_needed(spec, plain, plain, {})
    assert (settings.max_surge, settings.max_unavailable) == ("0", "1")
    assert note.startswith("stop-first, one replica fewer at a time: host port range")
    one_spare = replace(spec, replicas=1)  # 2 ports: 1 to spare
    refuse_unrunnable(one_spare, plain)
    with pytest.raises(BadInput, match="range has 1 port to spare, too few for a surge of 2"):
        refuse_unrunnable(one_spare, RolloutSettings(max_surge="2"))


def test_a_lone_replica_on_the_host_network_rolls_stop_first_unless_asked() -> None:
    """The old replica holds its ports on the host: a new one beside it would fail to bind
    them (it exited, and every rollout rolled back). Stop-first by default; a surge when
    asked (a worker listening on nothing); several replicas cannot listen either."""
    config = {"name": "p", "services": {"agent": {"image": "a:1", "network_mode": "host"}}}
    spec = services_from_config(config)["agent"]
    assert spec.host_network and spec.networks == ()
    (caution,) = spec.surge_cautions()
    assert caution == "network_mode host: two containers would bind the same host ports"
    plain = RolloutSettings()
    settings, _, note = stop_first_when_needed(spec, plain, plain, {})
    assert (settings.max_surge, note) == ("0", f"stop-first, expect downtime: {caution}")
    assert stop_first_when_needed(spec, plain, plain, {"max_surge": "1"}) == (plain, plain, "")
    assert replace(spec, replicas=2).surge_cautions() == []
    with pytest.raises(BadInput, match="a canary runs new replicas beside the old: network_mode"):
        refuse_beside(spec)


def test_a_service_another_waits_on_to_complete_is_a_job() -> None:
    """`depends_on: {migrate: {condition: service_completed_successfully}}` as `compose
    config --format json` writes it: migrate is a job; a healthy or started dependency not."""
    config = {
        "name": "p",
        "services": {
            "migrate": {"image": "app:1"},
            "db": {"image": "db:1"},
            "web": {
                "image": "app:1",
                "depends_on": {
                    "migrate": {"condition": "service_completed_successfully", "required": True},
                    "db": {"condition": "service_healthy", "required": True},
                },
            },
        },
    }
    specs = services_from_config(config)
    assert {name: spec.job for name, spec in specs.items()} == {
        "migrate": True,
        "db": False,
        "web": False,
    }


def test_a_build_section_keeps_its_inline_dockerfile_and_named_contexts() -> None:
    build = {"context": "/src", "dockerfile_inline": "FROM lab/base\n",
             "additional_contexts": {"assets": "/src/assets"}}  # fmt: skip
    config = {"name": "p", "services": {"web": {"build": build}}}
    section = services_from_config(config)["web"].build
    assert section is not None
    assert (section.inline, section.contexts) == ("FROM lab/base\n", ("assets",))
