"""`rollout --traffic`'s per-step proxy figures: a step whose meter reading failed says
unknown, and the next step counts from the last whole reading (not from the failure);
the load's report comes before the outcome, which stays the last line."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from agentlab.cli.rollout_commands import EventPrinter, TrafficRun
from agentlab.lab.facade import Lab
from agentlab.rollout.events import RolloutFinished, RolloutStarted
from agentlab.traffic.load import TrafficReport
from agentlab.traffic.metrics import MeterUnreadable, VersionFigures


class Meter:
    """A lab whose traffic layer gives these readings, one per read."""

    def __init__(self, *readings: dict[str, VersionFigures] | MeterUnreadable) -> None:
        self.readings = list(readings)

    def traffic_url(self) -> str:
        return "http://127.0.0.1:9/"

    def proxy_figures(self, _url: str) -> dict[str, VersionFigures]:
        reading = self.readings.pop(0)
        if isinstance(reading, MeterUnreadable):
            raise reading
        return reading


def served(ok: int) -> dict[str, VersionFigures]:
    return {"1.0": VersionFigures(codes={"2xx": ok, "5xx": 0}, count=ok)}


def test_a_failed_reading_spoils_its_own_step_only(capsys: pytest.CaptureFixture[str]) -> None:
    lost = MeterUnreadable("the traffic layer's meter answered 503: cut short", "retry")
    lab: Any = Meter(served(10), served(30), lost, served(70))
    run = TrafficRun(cast(Lab, lab), rps=10)
    for _ in range(3):
        run.print_step(as_json=True)
    steps = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert steps[0]["proxy"]["1.0"]["requests"] == 20
    assert steps[1] == {"event": "step_traffic", "proxy": None, "unknown": lost.message}
    assert steps[2]["proxy"]["1.0"]["requests"] == 40  # from the last whole reading


class Stopped:
    """A traffic generator that has sent 40 requests when it is stopped."""

    def __init__(self) -> None:
        self.stops = 0

    def stop(self, settle: bool) -> TrafficReport:
        self.stops += 1
        return TrafficReport(url="http://127.0.0.1:9/", offered_rps=10, sent=40, ok=40)


def test_the_outcome_stays_the_last_event_with_traffic(capsys: pytest.CaptureFixture[str]) -> None:
    lab: Any = Meter(served(10), served(30))
    run = TrafficRun(cast(Lab, lab), rps=10)
    generator = Stopped()
    run.generator = cast(Any, generator)
    printer = EventPrinter(as_json=True, traffic=run)
    printer(RolloutStarted("web", "1.0", "1.1", 3, "rolling", "surge 1"))
    printer(RolloutFinished("complete", "web at 1.1", 4.2))
    run.finish(as_json=True)  # the command's own cleanup, after the outcome: nothing more
    kinds = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert kinds == ["rollout_started", "traffic", "rollout_finished"]
    assert generator.stops == 1
