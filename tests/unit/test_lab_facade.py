"""The facade's operations on the in-memory engine, below any face: rollout, rollback,
resume, undo, scale, versions and images. The fake reads the override as Compose would."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentlab.cli.plans import up_lines
from agentlab.common.errors import BadInput, InterruptedRollout, LockBusy, OperationFailed
from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import NEVER_HEALTHY, Behaviour, exits
from agentlab.engine.model import PublishedPort
from agentlab.lab.facade import Lab
from agentlab.lab.up_plan import RECREATED
from agentlab.project.config import SETTINGS_FILE, load_settings
from agentlab.project.location import Project
from agentlab.rollout.events import (
    ReplicaFailed,
    ReplicaJoined,
    RollbackStarted,
    RolloutEvent,
    RolloutFinished,
    RolloutStarted,
    WeightSet,
)
from agentlab.state.lock import project_lock
from agentlab.state.override import read_override

REPO = "lab/agent"
SLOW = Behaviour(healthy_after=6)


def make_facade(directory: Path, fake: FakeEngine, **settings: object) -> Lab:
    """A Lab on `fake` with an agentlab.yaml (agent primary, quick monitor) in `directory`."""
    compose = directory / "compose.yaml"
    compose.write_text("services: {}\n", encoding="utf-8")
    doc = {"primary": ["agent"], "rollout": {"monitor": 0, "timeout": 30}, **settings}
    (directory / SETTINGS_FILE).write_text(yaml.safe_dump(doc), encoding="utf-8")
    project = Project((compose,), load_settings(directory), "lab")
    return Lab(project, engine_factory=fake.attach)


@pytest.fixture
def fake() -> FakeEngine:
    engine = FakeEngine(nap=0.0)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        engine.add_image(f"{REPO}:{version}")
    engine.add_image(f"{REPO}:1.9.0", NEVER_HEALTHY)
    engine.add_image(f"{REPO}:1.5.0", SLOW)
    engine.add_service("agent", f"{REPO}:1.0.0", replicas=2)
    return engine


@pytest.fixture
def lab(tmp_path: Path, fake: FakeEngine) -> Lab:
    return make_facade(tmp_path, fake)


def tags(fake: FakeEngine) -> list[str]:
    return sorted(ref.rsplit(":", 1)[1] for ref in fake.images_of("agent"))


def test_rollout_replaces_every_replica_pins_and_records_a_revision(
    lab: Lab, fake: FakeEngine
) -> None:
    events: list[RolloutEvent] = []
    result = lab.rollout("agent", "~1.1", emit=events.append, cause="test")
    assert result.outcome == "complete"
    assert tags(fake) == ["1.1.0", "1.1.0"]
    assert read_override(lab.override_path).pins == {"agent": f"{REPO}:1.1.0"}
    start, revision = lab.history().revisions("agent")  # what ran before: the way back
    assert (start.version, start.image_ref, start.outcome) == ("1.0.0", f"{REPO}:1.0.0", "complete")
    assert start.cause == "running before its first rollout"
    assert (revision.version, revision.outcome, revision.cause) == ("1.1.0", "complete", "test")
    assert isinstance(events[-1], RolloutFinished)
    assert fake.called("check")  # the engine is checked before anything changes


def test_a_rollout_to_what_every_replica_already_runs_changes_nothing(
    lab: Lab, fake: FakeEngine
) -> None:
    """No step and no revision (a repeated rollout pushed real revisions out of the kept
    history); the pin still says what runs."""
    assert lab.rollout("agent", "1.1.0").outcome == "complete"
    revisions = lab.history().revisions("agent")
    replicas = sorted(r.id for r in fake.replicas("agent"))
    events: list[RolloutEvent] = []
    result = lab.rollout("agent", "1.1.0", emit=events.append)
    assert (result.outcome, result.message) == (
        "complete",
        "agent already runs 1.1.0 on 2 replicas: nothing to do",
    )
    assert [type(e) for e in events] == [RolloutStarted, RolloutFinished]
    assert lab.plan_rollout("agent", "1.1.0").unchanged == result.message  # the dry run too
    assert lab.history().revisions("agent") == revisions
    assert sorted(r.id for r in fake.replicas("agent")) == replicas
    assert read_override(lab.override_path).pins == {"agent": f"{REPO}:1.1.0"}
    fake.leave_name(replicas[1], "agent")  # out of the name (an interruption's): not done
    assert lab.plan_rollout("agent", "1.1.0").unchanged == ""
    fake.join_name(replicas[1], "agent")
    fake.kill_replica(replicas[0])  # one not ready: the rollout replaces it
    assert lab.rollout("agent", "1.1.0").message == "agent runs 1.1.0 on 2 replicas"


def test_a_failed_rollout_rolls_back_and_says_so(lab: Lab, fake: FakeEngine) -> None:
    events: list[RolloutEvent] = []
    result = lab.rollout("agent", "1.9.0", {"timeout": "5s"}, emit=events.append)
    assert result.outcome == "rolled-back"
    assert any(isinstance(e, RollbackStarted) for e in events)
    assert tags(fake) == ["1.0.0", "1.0.0"]
    assert read_override(lab.override_path).pins == {"agent": f"{REPO}:1.0.0"}
    assert lab.history().revisions("agent")[-1].outcome == "rolled-back"


def test_a_replica_the_engine_refuses_to_start_is_a_failure_rolled_back(
    lab: Lab, fake: FakeEngine
) -> None:
    """All ports of a range taken, say: the engine creates the new replica and refuses to
    start it. The rollout rolls back (it was left interrupted, the created container
    behind), and the old replicas, running all along, count as ready at once: no
    downtime is claimed for them (a rollback waited min_ready on them, 'no ready')."""
    fake.refused["agent"] = "all ports are allocated"
    events: list[RolloutEvent] = []
    result = lab.rollout("agent", "1.1.0", emit=events.append)
    assert result.outcome == "rolled-back", result.message
    assert result.message.startswith(
        "a new agent replica (1.1.0) refused: docker engine: all ports are "
        "allocated; rolled back to 1.0.0"
    )
    assert result.downtime == 0, result.message
    assert tags(fake) == ["1.0.0", "1.0.0"]  # the created one is removed
    assert {c.state for c in fake.of("agent")} == {"running"}
    assert lab.unfinished() == []
    assert [type(e) for e in events].count(ReplicaFailed) == 1


@pytest.mark.parametrize("job", [True, False])
def test_a_job_that_exits_0_is_done_and_is_not_rolled_out(
    tmp_path: Path, fake: FakeEngine, job: bool
) -> None:
    """A migration another service waits for (depends_on: service_completed_successfully)
    exits 0 once done: `up` is done (it failed, 'not healthy: ... (exited)'), status names
    it a job, and a rollout of it is refused; a managed service that exits 0 still fails."""
    fake.add_image("shop/migrate:1.0.0", exits(code=0, logs="migrated"))
    fake.add_image("shop/migrate:1.1.0")
    fake.add_service("migrate", "shop/migrate:1.0.0", replicas=1)
    fake.spec_fields["migrate"] = {"job": job}
    lab = make_facade(tmp_path, fake)
    if not job:
        with pytest.raises(OperationFailed, match=r"not healthy: lab-migrate-1 \(exited\)"):
            lab.up(None, {}, 30)
        return
    lab.up(None, {}, 30)
    [migrate] = [s for s in lab.status().services if s.name == "migrate"]
    assert migrate.job and [r.state for r in migrate.replicas] == ["exited"]
    with pytest.raises(BadInput) as refused:
        lab.rollout("migrate", "1.1.0")
    assert refused.value.one_line() == (
        "migrate is a job (a service waits for it to complete): a rollout replaces replicas "
        "that keep running (hint: agentlab up --set migrate=1.1.0 runs it again)"
    )
    before, scales = dict(fake.containers), dict(fake.scales)  # scale ran the job again
    with pytest.raises(BadInput) as refused:
        lab.scale("migrate", 2)
    assert refused.value.one_line() == (
        "migrate is a job (a service waits for it to complete): scale keeps replicas running "
        "(hint: agentlab up runs it again)"
    )
    assert fake.containers == before and fake.scales == scales


def test_bad_input_changes_nothing(lab: Lab, fake: FakeEngine) -> None:
    before = dict(fake.containers)
    with pytest.raises(BadInput, match=r"no local image of agent matches 7\.0\.0"):
        lab.rollout("agent", "7.0.0")
    with pytest.raises(BadInput, match="more than 100%"):
        lab.rollout("agent", "1.1.0", {"max_unavailable": "250%"})
    assert fake.containers == before
    assert not lab.override_path.exists()
    assert fake.called("add_replicas") == [] and fake.called("stop_replica") == []


def test_rollback_returns_to_the_previous_revision(lab: Lab, fake: FakeEngine) -> None:
    assert lab.rollout("agent", "1.1.0").outcome == "complete"
    assert lab.rollout("agent", "1.2.0").outcome == "complete"
    started: list[RolloutEvent] = []
    result = lab.rollback("agent", None, emit=started.append)
    assert result.outcome == "complete"
    assert tags(fake) == ["1.1.0", "1.1.0"]
    [start] = [e for e in started if isinstance(e, RolloutStarted)]
    assert "rollback to revision 2" in start.line()  # it says where it goes back to
    assert lab.history().revisions("agent")[-1].cause == "rollback --to-revision 2"
    assert lab.rollback("agent", 1).outcome == "complete"  # what ran before the first rollout
    assert tags(fake) == ["1.0.0", "1.0.0"]
    with pytest.raises(BadInput, match="no revision 9"):
        lab.rollback("agent", 9)


def test_a_paused_rollout_is_resumed_or_undone(lab: Lab, fake: FakeEngine) -> None:
    paused = lab.rollout("agent", "1.5.0", pause=lambda: len(fake.images_of("agent")) > 2)
    assert paused.outcome == "paused"
    assert lab.unfinished() == ["the rollout of agent 1.0.0 -> 1.5.0 is paused after 1 step"]
    with pytest.raises(InterruptedRollout, match="is paused"):
        lab.rollout("agent", "1.1.0")  # one rollout at a time
    resumed = lab.continue_rollout("agent", undo=False)
    assert resumed.outcome == "complete"
    assert tags(fake) == ["1.5.0", "1.5.0"]
    assert lab.unfinished() == []
    again = lab.rollout("agent", "1.1.0", pause=lambda: len(fake.images_of("agent")) > 2)
    assert again.outcome == "paused"
    undone = lab.continue_rollout(None, undo=True)
    assert undone.outcome == "undone"
    assert tags(fake) == ["1.5.0", "1.5.0"]
    assert lab.history().revisions("agent")[-1].outcome == "undone"
    with pytest.raises(BadInput, match="no interrupted rollout"):
        lab.continue_rollout("agent", undo=True)


def test_resume_of_a_rollout_cut_short_in_its_rollback_ends_the_rollback(
    lab: Lab, fake: FakeEngine
) -> None:
    """A SIGTERM while a failed rollout rolled back: resume went forward to the version
    that had just failed (and failed again)."""

    def cut(event: RolloutEvent) -> None:
        if isinstance(event, RollbackStarted):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lab.rollout("agent", "1.9.0", {"timeout": "5s"}, emit=cut)
    (line,) = lab.unfinished()
    assert line.startswith("the rollout of agent 1.0.0 -> 1.9.0 failed and was interrupted while")
    started = len(fake.called("add_replicas"))
    events: list[RolloutEvent] = []
    resumed = lab.continue_rollout("agent", undo=False, emit=events.append)
    assert resumed.outcome == "rolled-back"
    assert tags(fake) == ["1.0.0", "1.0.0"]
    assert not any(isinstance(e, ReplicaFailed) for e in events)  # 1.9.0 was not tried again
    assert len(fake.called("add_replicas")) == started
    assert lab.history().revisions("agent")[-1].outcome == "rolled-back"


def test_resume_and_undo_run_with_the_options_the_rollout_was_given(
    lab: Lab, fake: FakeEngine
) -> None:
    """The options are journaled: a resumed or undone rollout keeps --max-surge and the
    other settings it was started with, instead of the service's defaults."""
    options = {"max_surge": "2", "deregistration_delay": 0.0, "timeout": 30.0}
    started: list[RolloutStarted] = []

    def keep(event: RolloutEvent) -> None:
        if isinstance(event, RolloutStarted):
            started.append(event)

    paused = lab.rollout(
        "agent", "1.5.0", options, keep, pause=lambda: len(fake.images_of("agent")) > 2
    )
    assert paused.outcome == "paused"
    assert lab.history().unfinished()[0].options == options
    assert lab.continue_rollout("agent", undo=False, emit=keep).outcome == "complete"
    again = lab.rollout("agent", "1.1.0", options, keep, pause=lambda: True)
    assert again.outcome == "paused"
    assert lab.continue_rollout("agent", undo=True, emit=keep).outcome == "undone"
    assert len(started) == 4
    assert all("max surge 2," in event.settings for event in started), started
    assert lab.rollout_settings("agent").max_surge == "1"  # the default is another


def test_resume_falls_back_to_the_services_settings_when_its_options_no_longer_apply(
    lab: Lab, fake: FakeEngine
) -> None:
    """--max-surge 2 journaled, then the compose file gains a fixed host port (a surge is
    refused now): resume goes on with the service's own settings and says why, instead of
    failing with an option it does not take (up refusing too, over the unfinished one)."""
    paused = lab.rollout(
        "agent", "1.5.0", {"max_surge": "2"}, pause=lambda: len(fake.images_of("agent")) > 2
    )
    assert paused.outcome == "paused"
    fake.host_ports["agent"] = (PublishedPort(8000, 18000, "127.0.0.1"),)
    lab.reload()
    started: list[RolloutStarted] = []

    def keep(event: RolloutEvent) -> None:
        if isinstance(event, RolloutStarted):
            started.append(event)

    assert lab.continue_rollout("agent", undo=False, emit=keep).outcome == "complete"
    [resumed] = started
    assert "its options no longer apply (" in resumed.settings, resumed.settings
    assert "max surge 0" in resumed.settings and tags(fake) == ["1.5.0", "1.5.0"]


def test_a_mutation_waits_for_no_one(lab: Lab, fake: FakeEngine) -> None:
    with project_lock(lab.state_dir, "another command"), pytest.raises(LockBusy):
        lab.rollout("agent", "1.1.0")
    assert fake.called("add_replicas") == []


def test_scale_is_kept_for_later_rollouts(lab: Lab, fake: FakeEngine) -> None:
    lab.scale("agent", 3)
    assert len(fake.of("agent")) == 3
    assert read_override(lab.override_path).scales == {"agent": 3}
    assert lab.services["agent"].replicas == 3
    assert lab.rollout("agent", "1.1.0").outcome == "complete"
    assert tags(fake) == ["1.1.0"] * 3
    with pytest.raises(BadInput, match="0 or more"):
        lab.scale("agent", -1)


def test_scale_runs_up_to_the_ports_a_host_range_has(tmp_path: Path) -> None:
    """scale surges by its nature: the check that a rollout's surge fits the spare ports
    refused scaling 2 to 3 replicas on a range of 4 ports."""
    fake = FakeEngine(nap=0.0)
    fake.add_image(f"{REPO}:1.0.0")
    fake.add_service("agent", f"{REPO}:1.0.0", replicas=2)
    fake.host_ports["agent"] = (PublishedPort(8000, None, "127.0.0.1", "tcp", (18101, 18104)),)
    lab = make_facade(tmp_path, fake)
    lab.scale("agent", 3)
    assert len(fake.of("agent")) == 3


def test_scale_refuses_a_second_writer_of_a_lone_replicas_named_volume(
    tmp_path: Path, fake: FakeEngine
) -> None:
    """`scale db 2` started a second database on the same data volume, the case rollouts
    go stop-first for; `order: start-first` says both may run."""
    fake.spec_fields["agent"] = {"named_volumes": ("db-data",)}
    fake.scales["agent"] = 1
    lab = make_facade(tmp_path, fake)
    with pytest.raises(BadInput, match="named volume db-data would be written by two"):
        lab.scale("agent", 2)
    assert fake.called("add_replicas") == []
    fake.spec_fields["agent"] = {"named_volumes": ("db-data",),
                                 "update_config": {"order": "start-first"}}  # fmt: skip
    make_facade(tmp_path, fake).scale("agent", 2)
    assert len(fake.of("agent")) == 2


def test_scale_refuses_a_count_no_lab_can_run_before_touching_anything(
    lab: Lab, fake: FakeEngine
) -> None:
    """`scale agent 100000` once made Compose create containers for minutes on a shared
    engine: a count over the bound is bad input, refused before any container."""
    override = lab.override_path.read_text() if lab.override_path.exists() else None
    with pytest.raises(BadInput, match="at most 100"):
        lab.scale("agent", 100_000)
    assert fake.called("add_replicas") == [] and fake.called("up") == []
    assert (lab.override_path.read_text() if lab.override_path.exists() else None) == override


def test_scale_refuses_over_an_interrupted_rollout_and_on_a_project_that_is_down(
    lab: Lab, fake: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It scaled the interrupted rollout's half-changed replicas (to the version it was
    heading to); on a project brought down, it started the service alone."""
    add_replicas = fake.add_replicas

    def interrupted(service: str, count: int, named: bool = True) -> list[str]:
        add_replicas(service, count, named)
        raise KeyboardInterrupt

    monkeypatch.setattr(fake, "add_replicas", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lab.rollout("agent", "1.1.0")
    monkeypatch.setattr(fake, "add_replicas", add_replicas)
    left = sorted(fake.images_of("agent"))
    with pytest.raises(InterruptedRollout, match=r"the rollout of agent 1\.0\.0 -> 1\.1\.0"):
        lab.scale("agent", 3)
    assert sorted(fake.images_of("agent")) == left
    assert lab.continue_rollout("agent", undo=True).outcome == "undone"
    lab.down(volumes=False)
    with pytest.raises(BadInput, match="the project is down"):
        lab.scale("agent", 2)
    assert fake.images_of("agent") == []


def test_versions_mark_the_current_one_and_the_blocked_ones(
    tmp_path: Path, fake: FakeEngine
) -> None:
    fake.add_image(f"{REPO}:nightly")
    lab = make_facade(tmp_path, fake)
    rows = {row.version: row for row in lab.versions("agent")["agent"]}
    assert list(rows) == ["1.0.0", "1.1.0", "1.2.0", "1.5.0", "1.9.0", "nightly"]
    assert rows["1.0.0"].current and not rows["1.1.0"].current
    assert rows["nightly"].blocked == "'nightly' is not a semver tag"
    assert rows["1.1.0"].local and rows["1.1.0"].image_id
    with pytest.raises(BadInput, match="unknown service 'web'"):
        lab.versions("web")


def test_images_build_the_catalogue_and_list_the_tags(tmp_path: Path, fake: FakeEngine) -> None:
    fake.add_image("lab/base:1")
    catalogue = {"agent": {"image": REPO, "context": ".", "versions": {"2.0.0": {}}}}
    lab = make_facade(tmp_path, fake, catalogue=catalogue)
    lines: list[str] = []
    built = lab.build_images(None, None, False, "lab/base:1", lines.append)
    assert built == [f"{REPO}:2.0.0"]
    assert lines[0] == f"[1/1] building {REPO}:2.0.0"
    [(_, _, args, labels)] = fake.called("build_image")
    assert args["BASE_IMAGE"] == "lab/base:1" and args["VERSION"] == "2.0.0"
    assert labels["org.opencontainers.image.version"] == "2.0.0"
    listed = [(row.service, row.tag, row.version) for row in lab.list_images()]
    assert ("agent", "2.0.0", "2.0.0") in listed
    fake.add_image(f"{REPO}:3.0.0", labels={"org.opencontainers.image.created": "2026-02-03"})
    created = {row.tag: row.created for row in lab.list_images()}
    assert created["3.0.0"] == "2026-02-03"  # its label, else the engine's, to the second
    assert re.fullmatch(r"2026-01-01T00:00:\d\dZ", created["1.0.0"] or "")
    assert [row.tag for row in lab.list_images()][:3] == ["1.0.0", "1.1.0", "1.2.0"]
    lines.clear()
    assert lab.build_images(None, None, False, "lab/base:1", lines.append) == []
    assert lines[-1].endswith("image(s) already present (use --force to rebuild)")
    with pytest.raises(BadInput) as refused:  # not "no build section and no catalogue entry"
        lab.build_images("9.9.9", "agent", False, "lab/base:1", lines.append)
    assert refused.value.one_line() == (
        "agent's catalogue in agentlab.yaml has no version 9.9.9 (hint: its versions: 2.0.0)"
    )


def test_images_build_of_an_image_only_service_says_why_there_is_nothing_to_build(
    tmp_path: Path, fake: FakeEngine
) -> None:
    """Asked for a version, the refusal names the service and how such images come (the
    hint used to ask for the version that was given)."""
    lab = make_facade(tmp_path, fake)
    with pytest.raises(BadInput) as refused:
        lab.build_images("3.0.0", "agent", False, None, print)
    assert refused.value.message == (
        "nothing to build: agent has no build: section and no catalogue entry"
    )
    assert (
        refused.value.hint == "an image-only service runs the tags you build, pull or load yourself"
    )
    with pytest.raises(BadInput, match=r"^nothing to build$"):
        lab.build_images(None, None, False, None, print)


def test_a_version_that_can_be_built_is_built_on_the_way(
    tmp_path: Path, fake: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLAB_BASE_IMAGE", "lab/base:1")
    fake.add_image("lab/base:1")
    catalogue = {"agent": {"image": REPO, "context": ".", "versions": {"3.0.0": {}}}}
    lab = make_facade(tmp_path, fake, catalogue=catalogue)
    [resolved] = lab.plan_pins("3.0.0", {})
    assert resolved.build is not None  # not local yet: a build job, not an error
    assert lab.rollout("agent", "3.0.0").outcome == "complete"
    assert tags(fake) == ["3.0.0", "3.0.0"]


def test_the_not_managed_error_names_the_managed_services_and_the_way_in(
    tmp_path: Path, fake: FakeEngine
) -> None:
    fake.add_image("lab/db:1.0.0")
    fake.add_service("db", "lab/db:1.0.0")
    lab = make_facade(tmp_path, fake, managed=["agent"])
    with pytest.raises(BadInput) as raised:
        lab.rollout("db", "1.0.0")
    assert raised.value.one_line() == (
        "service 'db' is not managed by agentlab (managed: agent) "
        f"(hint: add it to 'managed:' in {tmp_path / SETTINGS_FILE})"
    )


# ---- canaries (no traffic layer here: shares by replica count) -----------------


def test_a_canary_through_the_facade_ends_on_the_new_version_and_journals_its_plan(
    lab: Lab, fake: FakeEngine
) -> None:
    events: list[RolloutEvent] = []
    result = lab.rollout("agent", "1.1.0", {"strategy": "canary", "steps": "50,100"},
                         emit=events.append)  # fmt: skip
    assert result.outcome == "complete", result.message
    assert tags(fake) == ["1.1.0", "1.1.0"]
    weights = [e for e in events if isinstance(e, WeightSet)]
    assert [(e.percent, e.exact) for e in weights] == [(50, False), (100, False)]
    assert [r.outcome for r in lab.history().revisions("agent")] == ["complete", "complete"]
    again = lab.rollout("agent", "1.1.0", {"strategy": "canary", "steps": "0,100"})
    assert again.message == "agent already runs 1.1.0 on 2 replicas: nothing to do"
    assert len(lab.history().revisions("agent")) == 2  # it emptied the service, "promoted"
    assert tags(fake) == ["1.1.0", "1.1.0"]


def test_canary_options_are_checked_before_anything_changes(lab: Lab, fake: FakeEngine) -> None:
    before = dict(fake.containers)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"strategy": "canary", "gates": ["error_rate < 1%"]}, "not behind it"),
        ({"strategy": "canary", "gates": ["latency < 1"]}, "unknown metric"),
        ({"steps": "10,100"}, "belong to a canary"),
        ({"strategy": "canary", "steps": "60,20"}, "must not go down"),
    ]
    for options, says in cases:
        with pytest.raises(BadInput, match=says):
            lab.rollout("agent", "1.1.0", options)
    assert fake.containers == before
    assert not lab.history().revisions("agent")


def test_agentlab_yaml_makes_a_service_roll_as_a_canary(tmp_path: Path, fake: FakeEngine) -> None:
    lab = make_facade(tmp_path, fake, canary={"agent": {"steps": ["50", "pause 1s"]}})
    events: list[RolloutEvent] = []
    assert lab.rollout("agent", "1.1.0", emit=events.append).outcome == "complete"
    assert [e.percent for e in events if isinstance(e, WeightSet)] == [50, 100]
    rolling: list[RolloutEvent] = []
    assert lab.rollout("agent", "1.2.0", {"strategy": "rolling"}, emit=rolling.append).outcome \
        == "complete"  # fmt: skip
    assert not any(isinstance(e, WeightSet) for e in rolling)


def test_promote_and_abort_need_a_running_canary(
    lab: Lab, fake: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BadInput, match="no canary of agent is running") as refused:
        lab.request_canary("agent", "promote")
    assert refused.value.hint == "agentlab rollout agent --to VERSION --strategy canary"
    add_replicas = fake.add_replicas

    def interrupted(service: str, count: int, named: bool = True) -> list[str]:
        add_replicas(service, count, named)
        raise KeyboardInterrupt

    monkeypatch.setattr(fake, "add_replicas", interrupted)
    with pytest.raises(KeyboardInterrupt):  # killed mid-canary: its weight holds
        lab.rollout("agent", "1.1.0", {"strategy": "canary", "steps": "50,100"})
    monkeypatch.setattr("agentlab.state.history_records.pid_alive", lambda *_, **__: False)
    with pytest.raises(BadInput) as refused:
        lab.request_canary("agent", "promote")
    assert refused.value.hint == (
        "its rollout was interrupted: agentlab rollout resume agent, or agentlab rollout undo agent"
    )


def test_a_canary_that_fails_never_puts_its_replica_in_the_name(lab: Lab) -> None:
    """A canary step's inner run ends failed when its replica fails, and the canary then
    aborts: that inner end is not the rollout's, so the failed replica must not join the
    service's name (a run that fails for good puts its replicas back in it)."""
    events: list[RolloutEvent] = []
    options = {"strategy": "canary", "steps": "50,100", "timeout": "5s"}
    result = lab.rollout("agent", "1.9.0", options, emit=events.append)
    assert result.outcome == "rolled-back", result.message
    failed = {e.name for e in events if isinstance(e, ReplicaFailed)}
    assert failed and not failed & {e.name for e in events if isinstance(e, ReplicaJoined)}


def test_up_says_compose_recreates_a_service_edited_that_it_cannot_roll(
    lab: Lab, fake: FakeEngine
) -> None:
    """An environment or command edited under running replicas of a service whose
    replicas agentlab cannot copy (the way back of a configuration rollout; e.g. its
    secrets): Compose recreates them all at once, and the plan and `up` say so."""
    fake.uncopyable.add("agent")
    (change,) = [c for c in lab.plan_up(None, {}).changes if c.service == "agent"]
    assert change.action == "keep"
    fake.configs["agent"] = "edited"
    planned = lab.plan_up(None, {})
    (change,) = [c for c in planned.changes if c.service == "agent"]
    assert (change.action, change.rollout, change.target) == ("recreate", None, None)
    line = f"  agent: running, recreated 1.0.0 (configuration edited: {RECREATED}) [{REPO}:1.0.0]"
    assert line in up_lines(planned)
    lines: list[str] = []
    lab.up(None, {}, 30, lines.append)
    assert f"agent: configuration edited: {RECREATED}" in lines
    assert {c.config_hash for c in fake.of("agent")} == {"edited"}
    (change,) = [c for c in lab.plan_up(None, {}).changes if c.service == "agent"]
    assert change.action == "keep"


def test_up_rolls_out_an_image_edited_in_the_compose_file(lab: Lab, fake: FakeEngine) -> None:
    """compose.yaml's `image:` edited under running replicas (no pin of agentlab's): `up`
    rolls them out, one at a time, where Compose would recreate them all at once; the
    plan says so, and a second `up` has nothing to do."""
    fake.pin("agent", f"{REPO}:1.1.0")  # what the compose file names now
    (change,) = [c for c in lab.plan_up(None, {}).changes if c.service == "agent"]
    assert change.action == "roll" and change.current == f"{REPO}:1.0.0"
    lines: list[str] = []
    lab.up(None, {}, 30, lines.append)
    assert "rolling agent 1.0.0 -> 1.1.0" in lines
    assert [count for (_, count) in fake.called("add_replicas")] == [1, 1]
    assert fake.observations.min_ready_named("agent") == 2
    assert tags(fake) == ["1.1.0", "1.1.0"]
    assert lab.plan_up(None, {}).rolls == []


def test_an_image_edited_in_the_files_after_a_pin_is_rolled_out_by_up(
    lab: Lab, fake: FakeEngine
) -> None:
    """agentlab's pin (a rollout's, a rollback's) masked every later `image:` edit of the
    compose file: `up` kept the pinned version and said 'unchanged'."""
    assert lab.rollout("agent", "1.1.0").outcome == "complete"
    assert [c.action for c in lab.plan_up(None, {}).changes] == ["keep"]  # the pin holds
    fake.files_images["agent"] = f"{REPO}:1.2.0"  # the user edits compose.yaml
    (change,) = lab.plan_up(None, {}).changes
    assert change.rollout is not None
    assert (change.rollout.from_version, change.target and change.target.tag) == ("1.1.0", "1.2.0")
    (asked,) = lab.plan_up(None, {"agent": "1.0.0"}).changes  # the command line still wins
    assert asked.target is not None and asked.target.tag == "1.0.0"
    lab.up(None, {}, 30, lambda _: None)
    assert tags(fake) == ["1.2.0", "1.2.0"]
    assert [c.action for c in lab.plan_up(None, {}).changes] == ["keep"]  # pinned over it now
