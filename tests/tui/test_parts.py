"""The TUI's pure parts: health summaries, event folding and filtering, events applied to a
status, form defaults."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentlab.engine.model import EngineEvent, Replica
from agentlab.lab.catalogue import VersionRow
from agentlab.lab.drift import REPLICA_IMAGE, Drift
from agentlab.lab.status import LabStatus, ServiceStatus
from agentlab.rollout.events import (
    Paused,
    ReplicaCounts,
    RollbackStarted,
    RolloutFinished,
    RolloutStarted,
    StepStarted,
)
from agentlab.tui.live import apply_event
from agentlab.tui.rollout_view import advance, line_style
from agentlab.tui.screens.rollout_form import default_version
from agentlab.tui.screens.versions import version_prompt
from agentlab.tui.view import image_labels, replica_health, service_health, short_image, uptime
from agentlab.tui.widgets.traffic import last_second

START = datetime(2024, 1, 1, tzinfo=UTC)
LATER = START + timedelta(hours=1)  # when the events below happen


def replica(state: str = "running", health: str | None = "healthy", **kw: Any) -> Replica:
    return Replica(
        id=kw.pop("id", "c1"),
        name="lab-agent-1",
        service="agent",
        number=1,
        image_ref="lab/agent:1.2.0",
        image_id="sha256:" + "12" * 32,
        state=state,
        health=health,
        started_at=START,
        **kw,
    )


def service(*replicas: Replica) -> ServiceStatus:
    return ServiceStatus("agent", True, "lab/agent:1.2.0", 3, list(replicas), [])


def event(action: str, container: str = "c1", **attributes: str) -> EngineEvent:
    return EngineEvent(action, container, "agent", "lab-agent-1", LATER, attributes)


def status_of(*replicas: Replica) -> LabStatus:
    return LabStatus("lab", [service(*replicas)])


def only(status: LabStatus) -> Replica:
    (shown,) = status.services[0].replicas
    return shown


@pytest.mark.parametrize(
    ("replicas", "health"),
    [
        ((), "down"),
        ((replica(), replica(id="c2")), "healthy"),
        ((replica(health=None),), "running"),
        ((replica(), replica(health="starting")), "starting"),
        ((replica(health="starting"), replica(health="unhealthy")), "unhealthy"),
        ((replica(), replica(state="exited")), "unhealthy"),
    ],
)
def test_service_health_is_the_worst_replica(replicas: tuple[Replica, ...], health: str) -> None:
    assert service_health(service(*replicas)) == health


def test_replica_words_ids_uptime_and_labels() -> None:
    labels = {
        "org.opencontainers.image.version": "1.2.0",
        "io.agentlab.requires": "collector>=2",
        "com.docker.compose.service": "agent",
    }
    up = replica(labels=labels)
    assert replica_health(up) == "healthy"
    assert replica_health(replica(state="exited")) == "exited"
    assert short_image(up, {}) == "121212121212"
    assert short_image(up, {up.image_id: "sha256:" + "ab" * 32}) == "abababababab"
    assert uptime(up, START + timedelta(minutes=3, seconds=12)) == "3m12s"
    assert uptime(replica(state="exited"), START) == "-"
    assert image_labels(up) == [
        ("image.version", "1.2.0"),
        ("io.agentlab.requires", "collector>=2"),
    ]


def test_rollout_events_fold_into_a_view() -> None:
    view = advance(None, StepStarted(1, "ignored before a start"))
    assert view is None
    view = advance(view, RolloutStarted("agent", "1.2.0", "1.3.0", 3, "rolling", "s"))
    view = advance(view, StepStarted(2, "start 1 new"))
    view = advance(view, ReplicaCounts(3, 4, 1, 3, "1.4.0"))
    assert view is not None and view.running
    assert (view.step, view.ready, view.total, view.updated) == ("2. start 1 new", 3, 4, 1)
    assert view.title == "Rolling out agent: 1.2.0 → 1.3.0"
    view = advance(view, RollbackStarted("lab-agent-4 unhealthy", 3))
    assert view is not None and view.title.startswith("Rolling back agent")
    view = advance(view, Paused("paused on request", "resume"))
    view = advance(view, RolloutFinished("paused", "paused on request", 1.0))
    assert view is not None and not view.running and view.outcome == "paused"


def test_line_styles() -> None:
    assert line_style(RolloutFinished("complete", "ok", 1.0)) == "bold green"
    assert line_style(RolloutFinished("rolled-back", "no", 1.0)) == "bold red"
    assert line_style(RollbackStarted("why", 3)) == "bold red"
    assert line_style(StepStarted(1, "x")) == ""


def rows(current: str, *versions: str, blocked: tuple[str, ...] = ()) -> list[VersionRow]:
    return [
        VersionRow(v, v == current, True, None, "no" if v in blocked else None, "", None)
        for v in versions
    ]


def test_the_form_suggests_the_next_version() -> None:
    assert default_version(rows("1.2.0", "1.2.0", "1.3.0", "2.0.0")) == "1.3.0"
    assert default_version(rows("2.0.0", "1.2.0", "1.3.0", "2.0.0")) == "1.3.0"
    assert default_version(rows("1.2.0", "1.2.0", "1.3.0", blocked=("1.3.0",))) == "1.2.0"
    assert default_version(rows("x", "x", blocked=("x",))) is None


def test_the_rate_is_the_last_complete_second() -> None:
    assert last_second([]) == 0
    assert last_second([7]) == 0
    assert last_second([20, 19, 4]) == 19


def test_die_shows_exited_with_its_exit_code() -> None:
    after = only(apply_event(status_of(replica()), event("die", exitCode="137")))
    assert (after.state, after.exit_code) == ("exited", 137)


def test_start_runs_from_the_event_time_and_the_healthcheck_starts_over() -> None:
    after = only(apply_event(status_of(replica(state="exited")), event("start")))
    assert (after.state, after.health, after.started_at) == ("running", "starting", LATER)
    plain = only(apply_event(status_of(replica(state="exited", health=None)), event("start")))
    assert (plain.state, plain.health) == ("running", None)


def test_health_status_sets_the_health() -> None:
    after = only(apply_event(status_of(replica()), event("health_status: unhealthy")))
    assert after.health == "unhealthy"


def test_pause_and_unpause() -> None:
    paused = apply_event(status_of(replica()), event("pause"))
    assert only(paused).state == "paused"
    assert only(apply_event(paused, event("unpause"))).state == "running"


def test_destroy_removes_the_replica() -> None:
    status = status_of(replica(), replica(id="c2"))
    after = apply_event(status, event("destroy"))
    assert [r.id for r in after.services[0].replicas] == ["c2"]


def test_destroy_takes_the_replicas_drift_with_it() -> None:
    mine, other = (Drift("agent", REPLICA_IMAGE, n, "why", "hint") for n in ("lab-agent-1", "x"))
    status = replace(status_of(replica(), replica(id="c2")), drift=(mine, other))
    assert apply_event(status, event("die")).drift == (mine, other)
    assert apply_event(status, event("destroy")).drift == (other,)


@pytest.mark.parametrize(
    "seen",
    [
        event("kill", signal="15"),  # a signal sent: `die` tells when it exited
        event("create", "c9"),  # a new container: the status read shows it
        event("die", "c9"),  # not shown
        event("start"),  # already running: an event older than the status
    ],
)
def test_events_that_show_no_change_leave_the_status_as_is(seen: EngineEvent) -> None:
    status = status_of(replica())
    assert apply_event(status, seen) is status


def test_the_version_picker_says_a_running_version_the_policy_refuses_runs() -> None:
    """As `agentlab versions`: the current version is not 'blocked', a rollout to it is."""
    why = "'latest' is not allowed by the project policy"
    current = VersionRow("latest", True, True, "sha256:2", why, "", None)
    other = VersionRow("0.9.0", False, True, "sha256:1", why, "", None)
    assert f"runs; a rollout to it is blocked: {why}" in str(version_prompt(current))
    assert f" blocked: {why}" in str(version_prompt(other))
