"""A canary's requests as words (promote, abort, a weight set by hand), and its
per-version traffic, stable beside canary, from two readings of the proxy's counters."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import BadInput
from agentlab.lab.canaries import CanaryRequests
from agentlab.lab.canary_meter import CanaryMeter, split
from agentlab.rollout.canary_requests import (
    WeightRequest,
    read_request,
    request_word,
    weight_request,
)
from agentlab.traffic.metrics import VersionFigures


@pytest.mark.parametrize("text", ["0", "30", "30%", " 100 "])
def test_a_weight_is_a_whole_percent_from_0_to_100(text: str) -> None:
    assert weight_request(text).percent == int(text.strip().rstrip("%"))


@pytest.mark.parametrize("text", ["", "-1", "101", "2.5", "thirty", "30%%"])
def test_anything_else_is_bad_input_with_a_hint(text: str) -> None:
    with pytest.raises(BadInput, match="whole percent from 0 to 100") as raised:
        weight_request(text, "web")
    assert raised.value.hint == "agentlab weight web 30"


def test_requests_travel_as_one_word_each_through_the_request_folder(tmp_path: Path) -> None:
    assert [request_word(r) for r in ("promote", "abort", WeightRequest(30))] == [
        "promote", "abort", "weight 30",
    ]  # fmt: skip
    assert read_request("weight 101") is None and read_request("weight") is None
    folder = CanaryRequests(tmp_path)
    folder.send("web", WeightRequest(7))
    assert folder.take("web") == WeightRequest(7)
    assert folder.take("web") is None  # once


def figures(ok: int, errors: int = 0, slow: int = 0) -> VersionFigures:
    """`ok + errors` requests within 50 ms, `slow` more within 350 ms."""
    count = ok + errors + slow
    return VersionFigures({"2xx": ok + slow, "5xx": errors}, {0.05: ok + errors, 0.35: count},
                          count)  # fmt: skip


def test_the_meter_gives_each_side_its_rate_errors_and_p99_over_the_window() -> None:
    later = {"1.0": figures(190), "2.0": figures(8, errors=1, slow=1), "none": figures(50)}
    readings = iter([{"1.0": figures(100)}, later])
    times = iter([10.0, 12.0])
    meter = CanaryMeter(lambda: next(readings), lambda: next(times))
    assert meter.sample("2.0", "1.0") is None  # no window yet
    traffic = meter.sample("2.0", "1.0")
    assert traffic is not None and traffic.seconds == 2.0
    assert traffic.stable is not None and traffic.canary is not None
    assert (traffic.stable.version, traffic.stable.rps, traffic.stable.errors) == ("1.0", 45.0, 0)
    assert traffic.stable.p99 == 0.05
    canary = traffic.canary
    assert (canary.rps, canary.errors, canary.error_rate, canary.p99) == (5.0, 1, 0.1, 0.35)


def test_a_side_that_served_nothing_is_none_and_stable_falls_back_to_the_busiest() -> None:
    traffic = split({"1.1": figures(30), "none": figures(90)}, "2.0", "1.0", 1.0)
    assert traffic.canary is None
    assert traffic.stable is not None and traffic.stable.version == "1.1"
    assert split({}, "2.0", "1.0", 0.0).stable is None
    idle = split({"1.0": figures(3)}, "2.0", "1.0", 0.0).stable
    assert idle is not None and idle.rps == 0.0  # no time went by: no rate
