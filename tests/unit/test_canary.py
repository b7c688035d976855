"""Canary plans and metric gates: steps, weights, replica counts, gate expressions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentlab.common.errors import BadInput
from agentlab.rollout.canary import (
    Analysis,
    Pause,
    SetWeight,
    approximate_percent,
    build_plan,
    canary_replicas,
    parse_steps,
    server_weights,
)
from agentlab.rollout.gates import judge, parse_gate
from agentlab.traffic.metrics import VersionFigures


def test_bare_weights_get_an_analysis_each_when_gated() -> None:
    assert parse_steps("10,50,100", gated=True) == (
        SetWeight(10), Analysis(), SetWeight(50), Analysis(), SetWeight(100),
    )  # fmt: skip
    assert parse_steps("10,50,100", gated=False) == (SetWeight(10), SetWeight(50), SetWeight(100))


def test_steps_in_words_and_in_argo_form_and_the_last_100_added() -> None:
    assert parse_steps("10%, pause 30s, 50, pause", gated=False) == (
        SetWeight(10), Pause(30.0), SetWeight(50), Pause(None), SetWeight(100),
    )  # fmt: skip
    argo = [{"setWeight": 20}, {"pause": {"duration": "1m"}}, {"analysis": {}}, {"pause": {}}]
    assert parse_steps(argo, gated=True) == (
        SetWeight(20), Pause(60.0), Analysis(), Pause(None), SetWeight(100),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("steps", "gated", "says"),
    [
        ("", False, "needs steps"),
        ("10,150", False, "0 to 100"),
        ("50,10", False, "must not go down"),
        ("10,wait", False, "not a canary step"),
        ("10,analysis", False, "needs gates"),
        ("10,pause soon", False, "not a duration"),
    ],
)
def test_bad_steps_are_refused_with_a_hint(steps: str, gated: bool, says: str) -> None:
    with pytest.raises(BadInput, match=says) as raised:
        parse_steps(steps, gated)
    assert raised.value.hint


def test_a_plan_checks_its_analysis_options() -> None:
    plan = build_plan(None, ["error_rate < 1%"], {"interval": "500ms", "count": 2})
    assert plan.analysis.interval == 0.5 and plan.analysis.count == 2
    assert plan.steps[1] == Analysis()
    with pytest.raises(BadInput, match="analysis count"):
        build_plan("10", [], {"count": 0})
    with pytest.raises(BadInput, match="interval"):
        build_plan("10", [], {"interval": "0s"})


def test_canary_replicas_follow_the_weight() -> None:
    assert [canary_replicas(p, 3) for p in (0, 10, 34, 50, 67, 100)] == [1, 1, 2, 2, 3, 3]
    assert [canary_replicas(p, 10) for p in (10, 25, 50)] == [1, 3, 5]
    assert approximate_percent(1, 3) == 25


@given(percent=st.integers(min_value=0, max_value=100), stable=st.integers(1, 50))
def test_server_weights_give_the_canary_its_share(percent: int, stable: int) -> None:
    canary = canary_replicas(percent, stable)
    per_canary, per_stable = server_weights(percent, canary, stable)
    assert 0 <= per_canary <= 256 and 0 <= per_stable <= 256
    share = 100 * per_canary * canary / (per_canary * canary + per_stable * stable)
    assert abs(share - percent) < 1.0  # within a point of what was asked


def test_server_weights_are_the_smallest_that_say_so() -> None:
    assert server_weights(10, 1, 3) == (1, 3)
    assert server_weights(50, 3, 10) == (10, 3)
    assert server_weights(0, 1, 3) == (0, 1)
    assert server_weights(100, 3, 3) == (1, 0)


def figures(requests: int, errors: int = 0, bound: float = 0.005) -> VersionFigures:
    codes = {"2xx": requests - errors, "5xx": errors}
    return VersionFigures(codes, {0.005: requests if bound <= 0.005 else 0, 0.5: requests},
                          requests, 0.0)  # fmt: skip


def test_gates_parse_units_and_relations() -> None:
    assert parse_gate("error_rate < 1%").threshold == pytest.approx(0.01)
    assert parse_gate("p99 <= 300ms").threshold == pytest.approx(0.3)
    relative = parse_gate("p99 < 1.5 * stable.p99")
    assert relative.relative and relative.threshold == 1.5
    assert parse_gate("requests >= 50").threshold == 50


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("latency < 3", "unknown metric"),
        ("p99 < 300", "needs a unit"),
        ("error_rate < 1ms", "percentage"),
        ("p99 < 2 * stable.p50", "compares p99 with stable.p50"),
        ("p99 300ms", "not a gate"),
    ],
)
def test_bad_gates_are_refused_with_a_hint(text: str, says: str) -> None:
    with pytest.raises(BadInput, match=says) as raised:
        parse_gate(text)
    assert raised.value.hint


def test_a_gate_judges_the_canary_against_a_limit_or_the_stable_version() -> None:
    errors = parse_gate("error_rate < 1%")
    assert judge(errors, figures(100, 5), figures(100), 10).verdict == "fail"
    assert judge(errors, figures(100, 0), figures(100), 10).verdict == "pass"
    assert judge(errors, figures(5, 5), figures(100), 10).verdict == "inconclusive"
    slower = parse_gate("p99 < 1.5 * stable.p99")
    reading = judge(slower, figures(100, bound=0.5), figures(100), 10)
    assert reading.verdict == "fail"
    assert reading.line() == "p99 500ms (limit < 7.5ms, 100 requests): fail"
    blind = judge(slower, figures(100), figures(0), 10)  # no stable request in the interval
    assert (blind.verdict, blind.note) == (
        "inconclusive",
        "no stable p99 to compare with (no stable requests in the interval)",
    )
    assert judge(slower, figures(5), figures(0), 10).note == ""  # too few canary ones first
