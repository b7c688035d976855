"""The pure planner and the settings it reads: budgets, layering, steps, invariants."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from agentlab.common.errors import BadInput
from agentlab.rollout.planner import (
    Budget,
    Delay,
    Done,
    Monitor,
    RemoveOld,
    RemoveSurplus,
    ReplicaView,
    StartNew,
    Wait,
    budget,
    next_actions,
    plan,
    summarize,
)
from agentlab.rollout.settings import RolloutSettings, build_rollback_settings, build_settings

K8S = [
    ("1", "0"),
    ("0", "1"),
    ("1", "1"),
    ("2", "0"),
    ("0", "2"),
    ("3", "2"),
    ("25%", "25%"),
    ("50%", "0"),
    ("0", "50%"),
    ("100%", "0"),
    ("0", "100%"),
    ("10%", "10%"),
    ("200%", "0"),
]
SWARM = [
    {"parallelism": p, "order": order}
    for p, order in itertools.product([0, 1, 2, 3], ["start-first", "stop-first"])
]
SETTINGS = [
    *(build_settings(cli={"max_surge": s, "max_unavailable": u}) for s, u in K8S),
    *(build_settings(update_config=config) for config in SWARM),
]
LABELS = [
    *(f"surge{s}-unavailable{u}" for s, u in K8S),
    *(f"parallelism{c['parallelism']}-{c['order']}" for c in SWARM),
]


def feasible(desired: int, settings: RolloutSettings) -> Budget | None:
    """The budget, or None after checking that an impossible one is refused everywhere."""
    try:
        return budget(desired, settings)
    except BadInput:
        with pytest.raises(BadInput):
            plan(desired, settings)
        with pytest.raises(BadInput):
            next_actions(desired, views("o", desired), [], settings)
        return None


def views(prefix: str, ready: int, unready: int = 0) -> list[ReplicaView]:
    return [ReplicaView(f"{prefix}{n}", ready=n < ready) for n in range(ready + unready)]


def simulate(
    desired: int,
    settings: RolloutSettings,
    old: list[ReplicaView] | None = None,
    new: list[ReplicaView] | None = None,
) -> list[tuple[int, int, int, int]]:
    """Run next_actions like a runner whose new replicas all turn ready, from `desired`
    ready old replicas or the given state; return the (old, new, total, ready) counts of
    every state it went through."""
    old = views("old", desired) if old is None else old
    new = [] if new is None else new
    seen = []
    for _ in range(4 * (desired + len(old) + len(new)) + 4):
        ready = sum(v.ready for v in [*old, *new])
        seen.append((len(old), len(new), len(old) + len(new), ready))
        action = next_actions(desired, old, new, settings)
        match action:
            case Done():
                return seen
            case StartNew(count):
                new += [ReplicaView(f"new{len(new) + n}", False) for n in range(count)]
            case RemoveOld(ids):
                old = [v for v in old if v.id not in ids]
            case RemoveSurplus(ids):
                new = [v for v in new if v.id not in ids]
            case Wait():
                new = [replace(v, ready=True) for v in new]
    pytest.fail(f"no end after {len(seen)} steps for {desired} replicas, {settings}")


# ---- budgets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("1", "0", 3, Budget(1, 0)),
        ("25%", "25%", 3, Budget(1, 0)),  # surge rounds up, unavailable down
        ("25%", "25%", 4, Budget(1, 1)),
        ("25%", "25%", 10, Budget(3, 2)),
        ("0", "100%", 5, Budget(0, 5)),
        ("0", "7", 5, Budget(0, 5)),  # never more unavailable than desired
        ("200%", "0", 2, Budget(4, 0)),
    ],
)
def test_budget_resolves_counts_and_percentages_like_kubernetes(
    surge: str, unavailable: str, desired: int, expected: Budget
) -> None:
    settings = build_settings(cli={"max_surge": surge, "max_unavailable": unavailable})
    assert budget(desired, settings) == expected


@pytest.mark.parametrize(("surge", "unavailable"), [("0", "0"), ("0%", "0"), ("0", "10%")])
def test_budget_rejects_a_rollout_that_could_never_progress(surge: str, unavailable: str) -> None:
    settings = build_settings(cli={"max_surge": surge, "max_unavailable": unavailable})
    with pytest.raises(BadInput, match="both resolve to 0"):
        budget(3, settings)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"parallelism": 2, "order": "start-first"}, Budget(2, 0)),
        ({"parallelism": 2, "order": "stop-first"}, Budget(0, 2)),
        ({"parallelism": 2}, Budget(0, 2)),  # Swarm's default order
        ({"order": "start-first"}, Budget(1, 0)),  # parallelism defaults to 1
        ({"parallelism": 0, "order": "start-first"}, Budget(5, 0)),  # 0 = all at once
        ({"monitor": "10s"}, Budget(0, 1)),  # update_config present: Swarm's defaults
    ],
)
def test_update_config_maps_onto_surge_and_unavailable(
    config: dict[str, object], expected: Budget
) -> None:
    assert budget(5, build_settings(update_config=config)) == expected


# ---- settings layers --------------------------------------------------------


def test_settings_precedence_is_cli_then_compose_then_project() -> None:
    project = {"monitor": 1, "timeout": "60s", "delay": 3, "failure_action": "pause"}
    compose = {"monitor": "2s", "delay": "4s", "parallelism": 1, "order": "start-first"}
    settings = build_settings(project, compose, {"monitor": "3s", "timeout": None})
    assert settings.monitor == 3.0  # CLI
    assert settings.delay == 4.0  # compose file
    assert settings.timeout == 60.0  # project (a None CLI value means "not given")
    assert settings.failure_action == "pause"
    assert budget(3, settings) == Budget(1, 0)


def test_compose_durations_come_as_strings_or_nanoseconds() -> None:
    strings = build_settings(update_config={"delay": "1m30s", "monitor": "500ms"})
    nanos = build_settings(update_config={"delay": 90_000_000_000, "monitor": 500_000_000})
    assert (strings.delay, strings.monitor) == (90.0, 0.5)
    assert (nanos.delay, nanos.monitor) == (90.0, 0.5)


def test_cli_surge_overrides_compose_parallelism_and_back() -> None:
    compose = {"parallelism": 2, "order": "stop-first"}
    assert budget(4, build_settings(None, compose, {"max_surge": "1"})) == Budget(1, 0)
    project = {"max_surge": "2", "max_unavailable": "1"}
    assert budget(4, build_settings(project, None, {"parallelism": "3"})) == Budget(0, 3)
    assert budget(4, build_settings(project)) == Budget(2, 1)


def test_settings_normalise_counts() -> None:
    settings = build_settings({"max_surge": 2}, None, {"max_unavailable": "25%"})
    assert (settings.max_surge, settings.max_unavailable) == ("2", "25%")


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"max_surge": "-1"}, "count or a percentage"),
        ({"max_unavailable": "lots"}, "count or a percentage"),
        ({"parallelism": "x"}, "whole number"),
        ({"delay": "soon"}, "duration"),
        ({"timeout": "0s"}, "longer than 0s"),
        ({"max_failure_ratio": 2}, "between 0 and 1"),
        ({"order": "sideways"}, "one of start-first, stop-first"),
        ({"failure_action": "panic"}, "one of rollback, pause, continue"),
        ({"strategy": "canary"}, "one of rolling, recreate"),
        ({"speed": "fast"}, "unknown rollout setting"),
    ],
)
def test_bad_settings_are_bad_input(layer: dict[str, object], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        build_settings(cli=layer)


def test_rollback_settings_refine_the_forward_ones() -> None:
    forward = build_settings(cli={"max_surge": "2", "timeout": "30s"})
    assert build_rollback_settings(forward, {}) == forward
    back = build_rollback_settings(forward, {"parallelism": 0, "failure_action": "pause"})
    assert back.failure_action == "pause"
    assert back.timeout == 30.0
    assert budget(3, back) == Budget(0, 3)


def test_summary_names_the_resolved_budget() -> None:
    text = summarize(4, build_settings(update_config={"parallelism": 2, "delay": "5s"}))
    assert "max surge 0, max unavailable 2" in text
    assert "parallelism 2, stop-first" in text
    assert "delay 5s" in text


# ---- next_actions -----------------------------------------------------------


def test_rolling_steps_surge_one() -> None:
    settings = RolloutSettings()
    assert next_actions(3, views("o", 3), [], settings) == StartNew(1)
    assert next_actions(3, views("o", 3), views("n", 0, 1), settings) == Wait(1)
    assert next_actions(3, views("o", 3), views("n", 1), settings) == RemoveOld(("o0",))
    assert next_actions(3, [], views("n", 3), settings) == Done()


def test_unready_old_replicas_go_first_and_free() -> None:
    old = [ReplicaView("o0", True), ReplicaView("o1", False), ReplicaView("o2", True)]
    new = views("n", 0, 1)
    assert next_actions(3, old, new, RolloutSettings()) == RemoveOld(("o1",))


def test_surplus_new_replicas_are_removed_failed_and_unready_first() -> None:
    new = [
        ReplicaView("ready", True),
        ReplicaView("starting", False),
        ReplicaView("failed", False, failed=True),
    ]
    action = next_actions(1, [], new, RolloutSettings())
    assert action == RemoveSurplus(("failed", "starting"))


def test_failed_new_replicas_keep_their_slot() -> None:
    new = [ReplicaView("n0", False, failed=True), ReplicaView("n1", True)]
    assert next_actions(3, views("o", 2), new, RolloutSettings()) == RemoveOld(("o0",))


def test_recreate_stops_everything_then_starts_everything() -> None:
    settings = RolloutSettings(strategy="recreate")
    assert next_actions(3, views("o", 2, 1), [], settings) == RemoveOld(("o0", "o1", "o2"))
    assert next_actions(3, [], [], settings) == StartNew(3)
    assert next_actions(3, [], views("n", 1, 2), settings) == Wait(2)


@pytest.mark.parametrize("settings", SETTINGS, ids=LABELS)
@pytest.mark.parametrize("desired", range(1, 11))
def test_rolling_invariants(desired: int, settings: RolloutSettings) -> None:
    allowance = feasible(desired, settings)
    if allowance is None:
        return
    seen = simulate(desired, settings)
    assert max(total for _, _, total, _ in seen) <= desired + allowance.surge
    assert min(ready for *_, ready in seen) >= desired - allowance.unavailable
    assert seen[-1] == (0, desired, desired, desired)


@pytest.mark.parametrize("settings", SETTINGS, ids=LABELS)
@pytest.mark.parametrize("desired", range(1, 5))
def test_next_actions_is_safe_from_any_state(desired: int, settings: RolloutSettings) -> None:
    """From every small state (as a crash may leave), a step never breaks the budget and
    a Wait only happens while new replicas are starting."""
    allowance = feasible(desired, settings)
    if allowance is None:
        return
    for old_ready, old_unready, new_ready, new_unready in itertools.product(range(4), repeat=4):
        old = views("o", old_ready, old_unready)
        new = views("n", new_ready, new_unready)
        total, ready = len(old) + len(new), old_ready + new_ready
        action = next_actions(desired, old, new, settings)
        match action:
            case StartNew(count):
                assert total + count <= desired + allowance.surge
                assert len(new) + count <= desired
            case RemoveOld(ids):
                removed_ready = sum(v.ready for v in old if v.id in ids)
                if removed_ready:
                    assert ready - removed_ready >= desired - allowance.unavailable
            case RemoveSurplus(ids):
                assert len(new) - len(ids) == desired
            case Wait(count):
                assert count == new_unready > 0
            case Done():
                assert (len(old), new_ready, new_unready) == (0, desired, 0)
        assert simulate(desired, settings, old, new)[-1] == (0, desired, desired, desired)


# ---- plan (dry run) ---------------------------------------------------------


def test_plan_prints_steps_with_counts() -> None:
    lines = [step.line() for step in plan(3, RolloutSettings(monitor=5))]
    assert lines == [
        "1. start 1 new (4 containers, 3 ready)",
        "2. wait for 1 new replica ready (4 containers, 4 ready)",
        "3. drain and remove 1 old (3 containers, 3 ready)",
        "4. start 1 new (4 containers, 3 ready)",
        "5. wait for 1 new replica ready (4 containers, 4 ready)",
        "6. drain and remove 1 old (3 containers, 3 ready)",
        "7. start 1 new (4 containers, 3 ready)",
        "8. wait for 1 new replica ready (4 containers, 4 ready)",
        "9. drain and remove 1 old (3 containers, 3 ready)",
        "10. monitor new replicas for 5s (3 containers, 3 ready)",
    ]
    lone = [step.line() for step in plan(1, RolloutSettings(max_surge="0", max_unavailable="1"))]
    assert lone[:2] == ["1. drain and remove 1 old (0 containers, 0 ready)",
                        "2. start 1 new (1 container, 0 ready)"]  # fmt: skip


def test_plan_pauses_between_batches() -> None:
    settings = build_settings(update_config={"parallelism": 2, "delay": "10s", "monitor": 0})
    steps = [step.step for step in plan(4, settings)]
    assert steps == [
        RemoveOld(("old-1", "old-2")),
        StartNew(2),
        Wait(2),
        Delay(10.0),
        RemoveOld(("old-3", "old-4")),
        StartNew(2),
        Wait(2),
    ]


def test_plan_recreate_shows_the_downtime() -> None:
    steps = plan(3, RolloutSettings(strategy="recreate", monitor=2))
    assert [(s.step, s.containers, s.ready) for s in steps] == [
        (RemoveOld(("old-1", "old-2", "old-3")), 0, 0),
        (StartNew(3), 3, 0),
        (Wait(3), 3, 3),
        (Monitor(2), 3, 3),
    ]


@pytest.mark.parametrize("settings", SETTINGS, ids=LABELS)
@pytest.mark.parametrize("desired", [1, 4, 10])
def test_plan_ends_with_every_replica_new_and_ready(
    desired: int, settings: RolloutSettings
) -> None:
    allowance = feasible(desired, settings)
    if allowance is None:
        return
    steps = plan(desired, settings)
    assert [s.number for s in steps] == list(range(1, len(steps) + 1))
    assert (steps[-1].containers, steps[-1].ready) == (desired, desired)
    assert max(s.containers for s in steps) <= desired + allowance.surge
    assert min(s.ready for s in steps) >= desired - allowance.unavailable
