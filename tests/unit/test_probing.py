"""agentlab's own health probes of new replicas (rollout/probing.py), against the fake
engine: ready at the first passing probe; failed after the start period and `retries`
failed probes in a row spanning Docker's own window; Docker's health for the rest. Time
is the fake clock's."""

from __future__ import annotations

import itertools

from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import Behaviour
from agentlab.engine.inspect import healthcheck
from agentlab.engine.model import Healthcheck
from agentlab.rollout.events import ReplicaFailed, ReplicaJoined, ReplicaReady
from agentlab.rollout.probing import next_probe
from agentlab.rollout.settings import build_settings
from tests.unit.test_runner import NEW, OLD, Rig, make_rig

CHECK = Healthcheck(("curl", "-f", "localhost/health"), interval=1.0, retries=3, start_period=2.0)
# Docker never calls it healthy; agentlab's second probe of it passes
# Docker calls it healthy at its own next probe, well after agentlab's second one passed
PROBED = Behaviour(healthy_after=12, probe=CHECK, probe_passes_after=2)
NEVER = Behaviour(healthy_after=None, probe=CHECK, health_output="HTTP 503")


def test_a_replica_is_ready_at_its_first_passing_probe_while_docker_says_starting() -> None:
    rig = make_rig(PROBED)
    result = rig.run()
    assert result.outcome == "complete"
    assert rig.images() == [NEW] * 3
    assert [event.by for event in rig.of(ReplicaReady)] == ["probe"] * 3
    probed = [cid for (cid,) in rig.fake.called("probe")]
    assert all(probed.count(cid) == 2 for cid in set(probed)) and len(set(probed)) == 3


def test_the_rollout_is_complete_once_docker_agrees_so_status_says_the_same() -> None:
    rig = make_rig(PROBED)
    assert rig.run().outcome == "complete"
    assert [c.health for c in rig.fake.of("agent")] == ["healthy"] * 3


def test_a_replica_docker_never_calls_healthy_fails_at_the_progress_deadline() -> None:
    rig = make_rig(Behaviour(healthy_after=None, probe=CHECK, probe_passes_after=2))
    result = rig.run(cli={"timeout": "10s"})
    assert result.outcome == "rolled-back"
    assert "Docker's health still says starting after 10s" in result.message
    assert rig.images() == [OLD] * 3


def test_each_replica_joins_the_name_after_its_passing_probe() -> None:
    rig = make_rig(PROBED)
    rig.run()
    order = [type(e).__name__ for e in rig.events if isinstance(e, ReplicaJoined | ReplicaReady)]
    assert order == ["ReplicaJoined", "ReplicaReady"] * 3


def test_probe_interval_0_waits_on_dockers_health() -> None:
    rig = make_rig(Behaviour(healthy_after=3, probe=CHECK, probe_passes_after=1))
    result = rig.run(cli={"probe_interval": "0"})
    assert result.outcome == "complete"
    assert rig.fake.called("probe") == []
    assert [event.by for event in rig.of(ReplicaReady)] == ["docker"] * 3


def test_a_replica_docker_already_calls_healthy_is_not_probed() -> None:
    rig = make_rig(Behaviour(healthy_after=0, probe=CHECK, probe_passes_after=None))
    assert rig.run().outcome == "complete"
    assert rig.fake.called("probe") == []


def failed_at(rig: Rig) -> float:
    [event] = rig.of(ReplicaFailed)
    return rig.times[rig.events.index(event)]


def test_a_never_passing_probe_fails_after_the_start_period_and_dockers_window() -> None:
    rig = make_rig(NEVER)
    result = rig.run(cli={"timeout": "60s"})
    assert result.outcome == "rolled-back"
    assert rig.images() == [OLD] * 3
    [failed] = result.failures
    assert failed.reason == (
        "failed its health check after its start period (retries: 3; 5 of agentlab's probes "
        "failed in a row)"
    )
    assert failed.health_output == "HTTP 503"
    # the start period (2 s), then failures for (retries - 1) x interval (2 s), probed
    # every 0.5 s: no earlier than Docker's own verdict could come, and before its latest
    assert 2.0 + 2 * 1.0 <= failed_at(rig) <= 2.0 + 3 * 1.0


def test_without_a_start_period_failures_count_from_the_first_probe() -> None:
    no_start = Healthcheck(CHECK.command, interval=1.0, retries=3, start_period=0.0)
    rig = make_rig(Behaviour(healthy_after=None, probe=no_start))
    result = rig.run(cli={"timeout": "60s"})
    assert result.outcome == "rolled-back"
    assert 2 * 1.0 <= failed_at(rig) <= 3 * 1.0


def test_a_short_interval_still_takes_retries_probes_to_fail() -> None:
    fast = Healthcheck(CHECK.command, interval=0.01, retries=5, start_period=0.0)
    rig = make_rig(Behaviour(healthy_after=None, probe=fast))
    result = rig.run(cli={"timeout": "60s"})
    reason = result.failures[0].reason
    assert reason.endswith("(retries: 5; 5 of agentlab's probes failed in a row)")


def test_after_ready_dockers_unhealthy_is_a_failure() -> None:
    rig = make_rig(Behaviour(healthy_after=None, unhealthy_after=12, probe=CHECK,
                             probe_passes_after=1))  # fmt: skip
    result = rig.run(cli={"monitor": "5s"})
    assert result.outcome == "rolled-back"
    assert result.failures[0].reason == "turned unhealthy"
    assert rig.of(ReplicaReady)[0].by == "probe"


def test_the_healthcheck_agentlab_runs_is_the_containers() -> None:
    shell = healthcheck(
        {"Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 1_000_000_000,
                         "Timeout": 500_000_000, "Retries": 5, "StartPeriod": 2_000_000_000}}
    )  # fmt: skip
    assert shell == Healthcheck(("/bin/sh", "-c", "curl -f localhost"), 1.0, 0.5, 5, 2.0)
    exec_form = healthcheck({"Healthcheck": {"Test": ["CMD", "true"]}, "Shell": ["bash", "-c"]})
    assert exec_form == Healthcheck(("true",), 30.0, 30.0, 3, 0.0)  # Docker's defaults
    powershell = healthcheck({"Healthcheck": {"Test": ["CMD-SHELL", "x"]}, "Shell": ["pwsh", "-c"]})
    assert powershell is not None and powershell.command == ("pwsh", "-c", "x")
    assert healthcheck({"Healthcheck": {"Test": ["NONE"]}}) is None
    assert healthcheck({}) is None


def test_probe_interval_is_a_rollout_setting() -> None:
    assert build_settings().probe_interval == 0.5
    assert build_settings({"probe_interval": "100ms"}).probe_interval == 0.1
    assert build_settings(cli={"probe_interval": "0"}).probe_interval == 0.0


class SlowProbes(FakeEngine):
    """Every probe takes half a second of the fake clock."""

    def probe(self, container_id: str, check: Healthcheck) -> bool:
        self.clock.sleep(0.5)
        return super().probe(container_id, check)


def test_the_failure_window_grows_with_the_time_probes_take_as_dockers_does() -> None:
    rig = make_rig(NEVER, engine=SlowProbes)
    assert rig.run(cli={"timeout": "60s"}).outcome == "rolled-back"
    # Docker starts a probe `interval` after the last one ended: 2 x (1 s + 0.5 s)
    assert 2.0 + 2 * 1.5 <= failed_at(rig) <= 2.0 + 3 * 1.5 + 0.5


def test_probes_run_every_interval_from_the_start_of_the_last_one() -> None:
    assert next_probe(started=10.0, ended=10.2, interval=0.5) == 10.5  # not 10.7
    # a probe that took longer than the interval: the next one half an interval after it
    assert next_probe(started=10.0, ended=10.8, interval=0.5) == 11.05


PROBE_STARTS: dict[str, list[float]] = {}  # TimedProbes': container id -> when each began


class TimedProbes(FakeEngine):
    """Every probe takes 0.2 s of the fake clock; when each started is recorded."""

    def probe(self, container_id: str, check: Healthcheck) -> bool:
        PROBE_STARTS.setdefault(container_id, []).append(self.clock.now())
        self.clock.sleep(0.2)
        return super().probe(container_id, check)


def test_a_slow_probe_does_not_push_the_next_one_back() -> None:
    PROBE_STARTS.clear()
    rig = make_rig(Behaviour(healthy_after=12, probe=CHECK, probe_passes_after=3),
                   engine=TimedProbes)  # fmt: skip
    assert rig.run().outcome == "complete"
    assert len(PROBE_STARTS) == 3
    for starts in PROBE_STARTS.values():
        assert len(starts) == 3
        assert [round(b - a, 3) for a, b in itertools.pairwise(starts)] == [0.5, 0.5]
