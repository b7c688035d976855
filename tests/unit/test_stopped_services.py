"""A service none of whose replicas runs (the project down, or every container stopped by
a reboot or `docker stop`) is refused by what replaces running replicas (rollout, its dry
run, rollback, a canary, scale) before anything changes; `up` still starts it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import BadInput
from agentlab.engine.fake import FakeEngine
from agentlab.lab.facade import Lab
from tests.unit.test_lab_facade import REPO, make_facade, tags

ROLLOUTS = [{}, {"strategy": "canary", "steps": "50,100"}, {"strategy": "recreate"}]


@pytest.fixture
def fake() -> FakeEngine:
    engine = FakeEngine(nap=0.0)
    for version in ("1.0.0", "1.1.0"):
        engine.add_image(f"{REPO}:{version}")
    engine.add_service("agent", f"{REPO}:1.0.0", replicas=2)
    engine.add_image("lab/db:1")
    engine.add_service("db", "lab/db:1")
    return engine


@pytest.fixture
def lab(tmp_path: Path, fake: FakeEngine) -> Lab:
    return make_facade(tmp_path, fake)


def stop(fake: FakeEngine, *services: str) -> None:
    """`docker stop` of every container of `services` (a laptop rebooted)."""
    for service in services:
        for container in fake.of(service):
            fake.stop_replica(container.id, 0)


def untouched(fake: FakeEngine, lab: Lab) -> tuple[object, ...]:
    """What a refused command must leave as it was: containers, pins and scales, history."""
    containers = {c.id: (c.state, c.image_ref) for c in fake.containers.values()}
    override = lab.override_path.read_text() if lab.override_path.exists() else None
    history = lab.history().revisions("agent") if lab.model.has_history() else []
    return containers, override, history


@pytest.mark.parametrize("options", ROLLOUTS, ids=["rolling", "canary", "recreate"])
def test_a_rollout_of_a_project_whose_containers_all_stopped_is_refused(
    lab: Lab, fake: FakeEngine, options: dict[str, str]
) -> None:
    """It drained and removed the 2 stopped replicas, started new ones without db, then
    reported 40.9 s with no ready replica."""
    stop(fake, "agent", "db")
    before = untouched(fake, lab)
    with pytest.raises(BadInput) as refused:
        lab.plan_rollout("agent", "1.1.0", options)  # the dry run says it too
    assert refused.value.one_line() == (
        "the project is down: agent has no running replica (2 stopped) "
        "(hint: agentlab up --set agent=1.1.0 starts it at 1.1.0)"
    )
    with pytest.raises(BadInput, match="the project is down: agent has no running replica"):
        lab.rollout("agent", "1.1.0", options)
    assert untouched(fake, lab) == before
    assert fake.called("add_replicas") == [] and len(fake.called("stop_replica")) == 3


def test_a_rollout_of_a_project_that_is_down_is_refused(lab: Lab, fake: FakeEngine) -> None:
    """`-e staging rollout` of an environment that is down started the service alone."""
    lab.down(volumes=False)
    with pytest.raises(BadInput) as refused:
        lab.rollout("agent", "1.1.0")
    assert refused.value.message == "the project is down: agent has no running replica"
    assert fake.containers == {} and fake.called("add_replicas") == []


def test_a_service_whose_replicas_all_stopped_is_refused_beside_running_ones(
    lab: Lab, fake: FakeEngine
) -> None:
    assert lab.rollout("agent", "1.1.0").outcome == "complete"
    stop(fake, "agent")
    before = untouched(fake, lab)
    with pytest.raises(BadInput) as refused:
        lab.rollback("agent", None)
    assert refused.value.one_line() == (
        "agent has no running replica (2 stopped) "
        "(hint: agentlab up --set agent=1.0.0 starts it at 1.0.0)"
    )
    with pytest.raises(BadInput, match="agent has no running replica"):
        lab.scale("agent", 3)
    assert untouched(fake, lab) == before


def test_one_replica_running_is_enough_and_up_starts_a_stopped_service(
    lab: Lab, fake: FakeEngine
) -> None:
    """A rollout replaces the exited replicas of a service that runs; `up` starts what does
    not run, at the version asked."""
    fake.stop_replica(fake.of("agent")[0].id, 0)
    assert lab.rollout("agent", "1.1.0").outcome == "complete"
    assert tags(fake) == ["1.1.0", "1.1.0"]
    stop(fake, "agent")
    lab.up(None, {"agent": "1.0.0"}, timeout=30)
    assert tags(fake) == ["1.0.0", "1.0.0"]
    assert all(c.state == "running" for c in fake.of("agent"))


def test_a_service_scaled_to_none_is_not_refused(lab: Lab, fake: FakeEngine) -> None:
    """No replica is wanted: a rollout only pins it, scale starts it beside what runs."""
    lab.scale("agent", 0)
    assert lab.rollout("agent", "1.1.0").outcome == "complete"
    lab.scale("agent", 2)
    assert tags(fake) == ["1.1.0", "1.1.0"]


def test_drift_counts_the_running_replicas_and_names_the_services_with_none(
    tmp_path: Path, fake: FakeEngine
) -> None:
    """Every container exited, drift said its replicas 'run what was decided'. A service
    scaled to none, or a job (it exits once done), is not named: none should run."""
    stop(fake, "agent", "db")
    report = make_facade(tmp_path, fake).drift()
    assert (report.replicas, report.not_running, report.drifts) == (0, ("agent", "db"), ())
    fake.scales["agent"] = 0
    fake.spec_fields["db"] = {"job": True}
    report = make_facade(tmp_path, fake).drift()
    assert (report.replicas, report.not_running) == (0, ())
