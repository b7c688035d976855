"""A running service whose configuration was edited in the compose files (its image
kept): `up` rolls it out one replica at a time, rolls a failure back to copies of the old
replicas, and an interrupted one resumes or undoes to the right configuration. On the
fake engine, whose `configs` stand for Compose's config hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.cli.plans import up_json
from agentlab.common.errors import OperationFailed
from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import HEALTHY, Behaviour
from agentlab.lab.facade import Lab
from agentlab.lab.rollouts import drop
from tests.unit.test_lab_facade import make_facade

IMAGE = "lab/agent:1.0.0"
TURNS_UNHEALTHY = Behaviour(healthy_after=None, unhealthy_after=2, health_output="503")


def lab_on(tmp_path: Path, *behaviours: Behaviour) -> tuple[Lab, FakeEngine]:
    """3 settled replicas of IMAGE, whose later containers act as `behaviours`."""
    fake = FakeEngine(nap=0.0)
    fake.add_image(IMAGE, HEALTHY, HEALTHY, HEALTHY, *behaviours)
    fake.add_service("agent", IMAGE, replicas=3)
    quick = {"monitor": 0, "timeout": 30, "deregistration_delay": 0}
    return make_facade(tmp_path, fake, rollout=quick), fake


def configs(fake: FakeEngine) -> list[str]:
    return sorted(c.config_hash for c in fake.of("agent"))


def test_up_rolls_an_edited_configuration_one_replica_at_a_time(tmp_path: Path) -> None:
    lab, fake = lab_on(tmp_path, HEALTHY)
    fake.configs["agent"] = "edited"
    planned = lab.plan_up(None, {})
    (roll,) = planned.rolls
    assert (roll.configs, roll.change) == (("0", "edited"), "1.0.0 (configuration edited)")
    (service,) = up_json(planned)["services"]
    assert (service["action"], service["rollout"]["config_hashes"]) == ("roll", ["0", "edited"])
    lines: list[str] = []
    lab.up(None, {}, 30, lines.append)
    assert "rolling agent 1.0.0 (configuration edited)" in lines
    assert configs(fake) == ["edited"] * 3
    assert fake.observations.min_ready_named("agent") == 3
    assert fake.called("copy_replicas") == []
    assert lab.plan_up(None, {}).rolls == []


def test_a_failed_configuration_is_rolled_back_to_copies_of_the_old_replicas(
    tmp_path: Path,
) -> None:
    """The first new replica passes, the second turns unhealthy: the rollback replaces the
    new one that served with a copy of an old replica (the files no longer give that)."""
    lab, fake = lab_on(tmp_path, HEALTHY, TURNS_UNHEALTHY, HEALTHY)
    fake.configs["agent"] = "edited"
    with pytest.raises(OperationFailed, match=r"rolled back to 1\.0\.0"):
        lab.up(None, {}, 30, lambda _: None)
    assert configs(fake) == ["0"] * 3
    assert [args for args in fake.called("copy_replicas")] == [("agent", 1)]
    assert fake.observations.min_ready_named("agent") == 3


def test_an_interrupted_configuration_rollout_is_undone_or_resumed(tmp_path: Path) -> None:
    lab, fake = lab_on(tmp_path, HEALTHY)
    fake.configs["agent"] = "edited"
    (roll,) = lab.plan_up(None, {}).rolls

    def half() -> bool:
        return configs(fake).count("edited") > 1

    paused = lab.rollouts.execute(roll, drop, "up", pause=half)
    assert paused.outcome == "paused"
    assert set(configs(fake)) == {"0", "edited"}  # half done
    undone = lab.continue_rollout("agent", undo=True)
    assert (undone.outcome, configs(fake)) == ("undone", ["0"] * 3)
    paused = lab.rollouts.execute(roll, drop, "up", pause=half)
    assert paused.outcome == "paused"
    resumed = lab.continue_rollout("agent", undo=False)
    assert (resumed.outcome, configs(fake)) == ("complete", ["edited"] * 3)
