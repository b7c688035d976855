"""Waiting for readiness after `compose up -d`, on the fake engine and its fake clock."""

from __future__ import annotations

import pytest

from agentlab.common.errors import OperationFailed
from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import NEVER_HEALTHY, NO_HEALTHCHECK, Behaviour, exits
from agentlab.engine.fake_streams import FakeChanges
from agentlab.lab.readiness import has_failed, wait_until_ready


def engine_with(agent: Behaviour, job: Behaviour | None = None) -> FakeEngine:
    fake = FakeEngine(nap=0.0)
    fake.add_image("lab/agent:1.0", agent)
    fake.pin("agent", "lab/agent:1.0")
    fake.scales["agent"] = 3
    if job is not None:
        fake.add_image("lab/job:1.0", job)
        fake.pin("job", "lab/job:1.0")
    return fake


def wait(fake: FakeEngine, timeout: float = 30.0, lines: list[str] | None = None) -> list[str]:
    """`compose up -d`, then wait for every service; returns the progress lines."""
    shown = [] if lines is None else lines
    fake.up()
    replicas = wait_until_ready(
        fake,
        FakeChanges(fake.clock, nap=0.0),
        ["agent", "job"],
        ["agent"],
        timeout,
        shown.append,
        clock=fake.clock.now,
    )
    assert {r.service for r in replicas} <= {"agent", "job"}
    return shown


def test_returns_once_every_replica_is_healthy_and_shows_the_count() -> None:
    fake = engine_with(Behaviour(healthy_after=3))
    assert wait(fake) == ["0/3 replicas ready", "3/3 replicas ready"]
    assert all(c.ready for c in fake.of("agent"))
    assert len(fake.called("replicas")) == 3  # observed until the third poll, no further


def test_replicas_without_a_healthcheck_count_once_running() -> None:
    assert wait(engine_with(NO_HEALTHCHECK)) == []


def test_a_replica_that_exits_fails_at_once_with_its_logs() -> None:
    fake = engine_with(exits(after=2, logs="fatal: no config"))
    with pytest.raises(OperationFailed) as failed:
        wait(fake)
    assert failed.value.message.startswith("not healthy: lab-agent-1 (exited)")
    assert "log tail:\nfatal: no config" in failed.value.details
    assert fake.clock.now() < 30  # did not wait for the timeout


def test_timeout_names_the_replicas_still_starting() -> None:
    fake = engine_with(NEVER_HEALTHY)
    with pytest.raises(OperationFailed) as failed:
        wait(fake, timeout=5)
    assert failed.value.message.startswith("not healthy after 5s: lab-agent-1 (starting)")
    assert failed.value.hint.startswith("raise --timeout (now 5s) for a slow start")
    assert "health: connection refused" in failed.value.details
    assert fake.clock.now() == pytest.approx(5)


def test_an_unmanaged_one_shot_job_may_exit_zero_but_not_fail() -> None:
    assert wait(engine_with(NO_HEALTHCHECK, job=exits(after=1, code=0))) == []
    with pytest.raises(OperationFailed, match="lab-job-1 \\(exited\\)"):
        wait(engine_with(NO_HEALTHCHECK, job=exits(after=1, code=3)))


def test_has_failed_distinguishes_managed_replicas() -> None:
    fake = engine_with(exits(after=0, code=0))
    fake.up()
    replica = fake.replicas()[0]
    assert has_failed(replica, managed=True)
    assert not has_failed(replica, managed=False)
