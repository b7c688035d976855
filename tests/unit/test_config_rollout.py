"""A running service whose configuration was edited in the compose files (its image
kept): `up` rolls it out one replica at a time, rolls a failure back to copies of the old
replicas, and an interrupted one resumes or undoes to the right configuration. On the
fake engine, whose `configs` stand for Compose's config hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.cli.plans import up_json, up_lines
from agentlab.common.errors import BadInput, OperationFailed
from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import HEALTHY, Behaviour
from agentlab.lab.catalogue import Resolved
from agentlab.lab.facade import Lab
from agentlab.lab.rollout_io import drop
from agentlab.rollout.phase import STRAY
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
    assert (roll.from_config, roll.change) == ("0", "1.0.0 (configuration edited)")
    (service,) = up_json(planned)["services"]
    assert (service["action"], service["rollout"]["from_config"]) == ("roll", "0")
    lines: list[str] = []
    lab.up(None, {}, 30, lines.append)
    assert "rolling agent 1.0.0 (configuration edited)" in lines
    assert any(line.startswith("rollout agent 1.0.0 (configuration edited) (3") for line in lines)
    assert "   3/3 ready, 3/3 on 1.0.0, the edited configuration" in lines, lines
    assert configs(fake) == ["edited"] * 3
    assert fake.observations.min_ready_named("agent") == 3
    assert fake.called("copy_replicas") == []
    assert lab.plan_up(None, {}).rolls == []


def test_a_rollback_after_a_configuration_edit_is_refused_and_says_why(tmp_path: Path) -> None:
    """The last revision changed the configuration only: `rollback` went to the revision
    before at another version, keeping the edit (the files give the configuration)."""
    lab, fake = lab_on(tmp_path, HEALTHY, HEALTHY, HEALTHY, HEALTHY, HEALTHY, HEALTHY)
    fake.add_image("lab/agent:0.9.0")
    assert lab.rollout("agent", "0.9.0").outcome == "complete"
    assert lab.rollout("agent", "1.0.0").outcome == "complete"
    fake.configs["agent"] = "edited"
    lab.up(None, {}, 30)
    running = sorted((c.id, c.image_ref, c.config_hash) for c in fake.of("agent"))
    with pytest.raises(BadInput) as refused:
        lab.rollback("agent", None)
    assert refused.value.one_line() == (
        "agent's last revision changed its configuration only (revision 3 ran the same "
        "image): a rollback changes images, not the compose files (hint: undo the edit in "
        "the compose files, then agentlab up; or agentlab rollback agent --to-revision 2 (0.9.0))"
    )
    assert sorted((c.id, c.image_ref, c.config_hash) for c in fake.of("agent")) == running
    assert lab.rollback("agent", 2).outcome == "complete"  # a version, when asked for


def test_a_rebuilt_tag_is_said_as_such_where_compose_recreates_the_replicas(
    tmp_path: Path,
) -> None:
    """Replicas on bytes their tag no longer names: Compose recreates them, and `up` said
    'configuration edited' of a service whose files nobody edited."""
    lab, fake = lab_on(tmp_path)
    fake.add_image(IMAGE)  # rebuilt: the tag names a new image id
    planned = lab.plan_up(None, {})
    (service,) = up_json(planned)["services"]
    assert service["action"] == "recreate"
    (change,) = planned.changes
    assert change.recreated == "its tag 1.0.0 names other bytes now (rebuilt or moved)"
    (tmp_path / "edited").mkdir()
    other, other_fake = lab_on(tmp_path / "edited")
    other_fake.uncopyable.add("agent")  # no way back: Compose recreates it
    other_fake.configs["agent"] = "edited"
    (change,) = other.plan_up(None, {}).changes
    assert change.recreated == "configuration edited"


def test_an_orphan_container_does_not_hide_an_edited_configuration(tmp_path: Path) -> None:
    """A service removed from the compose file while its container runs: Compose refuses a
    dry run that names it, which read as 'nothing edited', and `up` let Compose recreate
    every replica of the edited service at once."""
    lab, fake = lab_on(tmp_path, HEALTHY, HEALTHY, HEALTHY)
    fake.add_image("lab/worker:1.0.0")
    fake.add_service("worker", "lab/worker:1.0.0")
    del fake.pins["worker"]  # gone from the files, still running
    fake.configs["agent"] = "edited"
    planned = lab.plan_up(None, {})
    assert planned.orphans == ("lab-worker-1",)  # said, as Compose warns of it
    line = "note: lab-worker-1 runs, but its service is gone from the compose files (agentlab"
    assert line in "\n".join(up_lines(planned))
    (roll,) = planned.rolls
    assert (roll.service.name, roll.from_config) == ("agent", "0")
    lab.up(None, {}, 30, lambda _: None)
    assert configs(fake) == ["edited"] * 3
    assert fake.observations.min_ready_named("agent") == 3


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


def test_a_replica_compose_makes_as_the_ones_it_replaces_stops_the_rollout(
    tmp_path: Path,
) -> None:
    """Compose gives a new replica the configuration the rollout leaves (it recreates
    them for another reason): the rollout stops there and rolls back, instead of starting
    such replicas forever."""
    lab, fake = lab_on(tmp_path, HEALTHY)
    target = Resolved("agent", "1.0.0", IMAGE)
    planned = lab.rollouts.prepare("agent", target, {}, from_image=IMAGE, from_config="0")
    result = lab.rollouts.execute(planned, drop, "up")
    assert result.outcome == "rolled-back"
    assert result.failures[0].reason == STRAY
    assert len(fake.called("add_replicas")) == 1
    assert configs(fake) == ["0"] * 3


def test_a_rollback_with_no_replica_left_to_copy_fails_in_one_line(tmp_path: Path) -> None:
    """Resumed after every old replica went, the forward phase fails: the rollback has
    nothing to copy, and the rollout ends failed, saying both (not an exception)."""
    lab, fake = lab_on(tmp_path, HEALTHY, HEALTHY, TURNS_UNHEALTHY)
    fake.configs["agent"] = "edited"
    (roll,) = lab.plan_up(None, {}).rolls

    def two_new() -> bool:
        return configs(fake).count("edited") >= 2

    assert lab.rollouts.execute(roll, drop, "up", pause=two_new).outcome == "paused"
    for container in [c for c in fake.of("agent") if c.config_hash == "0"]:
        fake.remove_replica(container.id)  # every old replica gone meanwhile
    resumed = lab.continue_rollout("agent", undo=False)
    assert resumed.outcome == "failed"
    assert "the rollback failed too: no replica of agent's configuration" in resumed.message
    assert lab.unfinished() == []
