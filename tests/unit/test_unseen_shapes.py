"""Shapes of user projects the sample projects did not have, on the fake engine: an image
one service builds and another only runs, a sidecar in another service's network
namespace, a UDP port under the traffic layer, a canary that cannot surge, an inactive
profile, traffic with no entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import BadInput, OperationFailed
from agentlab.engine.compose_model import services_from_config
from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import Behaviour
from agentlab.engine.model import BuildSection, PublishedPort
from agentlab.lab.facade import Lab
from agentlab.project.config import load_settings
from agentlab.project.location import Project
from agentlab.rollout.events import JoinersRecreated, RolloutEvent, RolloutFinished

BASE = "lab/base:1"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """`app` built from source as shop/app:1.0.0 (not built yet), `sidecar` runs the same
    image with no build section and joins app's network namespace."""
    monkeypatch.setenv("AGENTLAB_BASE_IMAGE", BASE)
    source = tmp_path / "app"
    source.mkdir()
    (source / "Dockerfile").write_text(f"ARG BASE_IMAGE={BASE}\nFROM ${{BASE_IMAGE}}\n")
    engine = FakeEngine(nap=0.0)
    engine.add_image(BASE)
    engine.builds["app"] = BuildSection(str(source))
    engine.pin("app", "shop/app:1.0.0")
    engine.pin("sidecar", "shop/app:1.0.0")
    engine.spec_fields["sidecar"] = {"network_parent": "app"}
    return engine


@pytest.fixture
def lab(tmp_path: Path, fake: FakeEngine) -> Lab:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n")
    (tmp_path / "agentlab.yaml").write_text("rollout: {monitor: 0}\n")
    return Lab(Project((compose,), load_settings(tmp_path), "shop"), engine_factory=fake.attach)


def test_an_image_one_service_builds_and_another_runs_is_built_once(
    lab: Lab, fake: FakeEngine
) -> None:
    lab.up(None, {}, 30)
    assert [tag for _, tag, _, _ in fake.called("build_service")] == ["shop/app:1.0.0"]
    assert fake.images_of("sidecar") == ["shop/app:1.0.0"]


def test_an_image_no_service_builds_is_still_refused(lab: Lab, fake: FakeEngine) -> None:
    fake.pin("tool", "shop/tool:1.0.0")
    with pytest.raises(BadInput, match=r"image shop/tool:1\.0\.0 of service tool is not present"):
        lab.up(None, {}, 30)
    assert fake.called("build_service") == [] and fake.called("up") == []


def test_a_rollout_recreates_the_services_in_its_network_namespace(
    lab: Lab, fake: FakeEngine
) -> None:
    lab.up(None, {}, 30)
    fake.calls.clear()
    events: list[RolloutEvent] = []
    assert lab.rollout("app", "1.1.0", emit=events.append).outcome == "complete"
    assert fake.called("up")[-1] == (["sidecar"], None, True, False)  # --no-deps, sidecar only
    assert [e.joiners for e in events if isinstance(e, JoinersRecreated)] == [("sidecar",)]
    assert isinstance(events[-1], RolloutFinished)  # a rollout's last event is its outcome
    fake.calls.clear()
    lab.scale("app", 2)
    assert fake.called("up")[-1] == (["sidecar"], None, True, False)


def test_up_s_plan_says_the_joiner_of_a_service_it_rolls_is_recreated_and_why(
    lab: Lab, fake: FakeEngine
) -> None:
    """`up --set app=1.1.0 --dry-run` did not list the sidecar the rollout recreates, and
    an edit of app alone said the sidecar's "configuration edited"."""
    lab.up(None, {}, 30)
    planned = lab.plan_up(None, {"app": "1.1.0"})
    changes = {change.service: change for change in planned.changes}
    assert changes["app"].action == "roll"
    assert (changes["sidecar"].action, changes["sidecar"].recreated) == (
        "recreate",
        "it joins app's network namespace, whose containers change",
    )
    kept = {change.service: change.action for change in lab.plan_up(None, {}).changes}
    assert kept == {"app": "keep", "sidecar": "keep"}  # nothing changes: both kept
    fake.configs["app"] = "edited"  # app's configuration edited: Compose would recreate both
    stale = lab.plan_up(None, {}).changes
    assert [(c.service, c.recreated) for c in stale if c.service == "sidecar"] == [
        ("sidecar", "it joins app's network namespace, whose containers change")
    ]


def test_a_rolled_back_rollout_leaves_the_joiner_on_the_container_that_stayed(
    lab: Lab, fake: FakeEngine
) -> None:
    """A rollout rolled back leaves app's old container, whose network the sidecar is in:
    agentlab said "recreated sidecar" though Compose left it as it was."""
    lab.up(None, {}, 30)
    fake.add_image("shop/app:2.0.0", Behaviour(healthy_after=None, unhealthy_after=1))
    [sidecar] = [c.id for c in fake.of("sidecar")]
    events: list[RolloutEvent] = []
    assert lab.rollout("app", "2.0.0", emit=events.append).outcome == "rolled-back"
    assert [c.id for c in fake.of("sidecar")] == [sidecar]
    assert not [e for e in events if isinstance(e, JoinersRecreated)]


def test_a_joiner_that_fails_after_a_resume_leaves_no_revision_in_progress(
    lab: Lab, fake: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resume recreated the joiners before it finished the revision: a joiner Compose could
    not recreate left the resumed revision `in-progress` for good."""
    lab.up(None, {}, 30)
    assert lab.rollout("app", "1.1.0", pause=lambda: True).outcome == "paused"

    def refused(*_: object, **__: object) -> None:
        raise OperationFailed("compose up failed: sidecar", hint="agentlab status")

    monkeypatch.setattr(fake, "up", refused)
    with pytest.raises(OperationFailed):
        lab.continue_rollout("app", undo=False)
    assert lab.history().current("app") is not None  # complete, not in progress
    assert [r.outcome for r in lab.history().revisions("app")][-1] == "complete"


def test_a_rollout_of_a_service_nobody_joins_recreates_nothing_else(
    lab: Lab, fake: FakeEngine
) -> None:
    lab.up(None, {}, 30)
    fake.calls.clear()
    events: list[RolloutEvent] = []
    assert lab.rollout("sidecar", "1.0.0", emit=events.append).outcome == "complete"
    assert not [e for e in events if isinstance(e, JoinersRecreated)]
    assert all(services != ["app"] for services, *_ in fake.called("up"))


def test_network_mode_service_names_the_service_joined() -> None:
    config = {
        "name": "shop",
        "services": {
            "app": {"image": "a:1", "networks": {"default": None}},
            "sidecar": {"image": "a:1", "network_mode": "service:app"},
            "host": {"image": "a:1", "network_mode": "host"},
        },
    }
    specs = services_from_config(config)
    parents = {name: spec.network_parent for name, spec in specs.items()}
    assert parents == {"app": None, "sidecar": "app", "host": None}


def test_a_udp_port_is_refused_by_the_traffic_layer_before_anything_changes(
    lab: Lab, fake: FakeEngine
) -> None:
    fake.add_image("shop/app:1.0.0")
    fake.spec_fields.clear()
    fake.host_ports["app"] = (
        PublishedPort(8000, None, "127.0.0.1"),
        PublishedPort(9000, None, "127.0.0.1", "udp"),
    )
    with pytest.raises(BadInput) as raised:
        lab.up(None, {}, 30, traffic_layer=["app"])
    assert raised.value.one_line() == (
        "app publishes 9000/udp: the traffic layer proxies TCP only, and would drop it "
        "(hint: publish it from another service, or leave app out of the traffic layer)"
    )
    assert fake.called("up") == []
    assert not lab.override_path.exists() or "9000" not in lab.override_path.read_text()


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_a_traffic_layer_port_out_of_range_is_bad_input(
    lab: Lab, fake: FakeEngine, port: str
) -> None:
    """`--traffic-layer web:65536` passed the dry run, then started the lab and the proxy
    before HAProxy refused the server: exit 1 with everything left running."""
    fake.add_image("shop/app:1.0.0")
    with pytest.raises(BadInput, match=r"not SERVICE or SERVICE:PORT \(1-65535\)"):
        lab.plan_up(None, {}, traffic_layer=[f"app:{port}"])
    assert fake.called("up") == []


@pytest.mark.parametrize(
    ("container_name", "hint"),
    [("shop-app", "remove container_name"), (None, "agentlab up --traffic-layer app")],
)
def test_a_canary_on_a_service_that_cannot_surge_is_refused_with_the_way_out(
    lab: Lab, fake: FakeEngine, container_name: str | None, hint: str
) -> None:
    lab.up(None, {}, 30)
    if container_name:
        fake.spec_fields["app"] = {"container_name": container_name}
    else:
        fake.host_ports["app"] = (PublishedPort(8000, 8000, "127.0.0.1"),)
    lab.reload()  # the compose model changed
    fake.calls.clear()
    with pytest.raises(BadInput) as raised:
        lab.rollout("app", "1.1.0", {"strategy": "canary"})
    assert raised.value.one_line().startswith("a canary runs new replicas beside the old: ")
    assert raised.value.one_line().endswith(f"(hint: {hint})")
    assert fake.called("add_replicas") == [] and fake.called("build_service") == []


def test_a_service_in_an_inactive_profile_is_named_as_such(lab: Lab) -> None:
    compose = lab.project.compose_files[0]
    compose.write_text("services:\n  seed:\n    image: shop/seed:1\n    profiles: [tools]\n")
    with pytest.raises(BadInput) as raised:
        lab.rollout("seed", "1.1.0")
    assert raised.value.one_line() == (
        "service 'seed' is in profile tools, which is not active "
        "(hint: COMPOSE_PROFILES=tools agentlab up)"
    )
    with pytest.raises(BadInput, match="unknown service 'nosuch'"):
        lab.rollout("nosuch", "1.1.0")


def test_traffic_in_a_project_with_no_entry_point_says_how_to_get_one(lab: Lab) -> None:
    lab.up(None, {}, 30)
    with pytest.raises(BadInput) as raised:
        lab.traffic_url()
    assert raised.value.one_line() == (
        "no entry point for traffic: no service is behind the traffic layer, and agentlab.yaml "
        "names no `traffic:` (hint: agentlab up --traffic-layer SERVICE, or set traffic: "
        "{service, port, path} in agentlab.yaml)"
    )
