"""Command-line parsing and output over a fake-engine lab (no Docker): the words of
`rollout`, the traffic command's one look-up, and JSON made at the edge."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentlab.cli import commands_base, main
from agentlab.common.errors import EngineUnavailable
from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import Behaviour
from agentlab.lab import drift_reading
from agentlab.lab.drift_registry import TagDigests
from agentlab.lab.facade import Lab
from agentlab.traffic.metrics import MeterUnreadable, VersionFigures
from tests.cli.fake_lab import serve
from tests.conftest import SIGNAL_EXITS


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """Services `resume`, `undo` and `web` at 1.0.0 (2.0.0 local too); every command's lab
    runs on this fake."""
    engine = FakeEngine(nap=0.0)
    for service in ("resume", "undo", "web"):
        engine.add_image(f"lab/{service}:1.0.0")
        engine.add_image(f"lab/{service}:2.0.0")
        engine.add_service(service, f"lab/{service}:1.0.0", replicas=2)
    serve(engine, tmp_path, monkeypatch)
    return engine


def signalled_after_starting(fake: FakeEngine, sent: signal.Signals) -> Callable[..., list[str]]:
    """The fake's add_replicas, sending `sent` to this process once the replicas started
    (a Ctrl-C or a cancelled CI job right after a command's first new replica)."""
    add_replicas = fake.add_replicas

    def adding(service: str, count: int, named: bool = True) -> list[str]:
        started = add_replicas(service, count, named)
        os.kill(os.getpid(), sent)
        time.sleep(5)  # the handler raises before this ends
        return started

    return adding


@pytest.mark.parametrize("service", ["resume", "undo"])
def test_a_service_named_like_a_rollout_word_can_be_rolled_out(
    fake: FakeEngine, service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(["rollout", service, "--to", "2.0.0", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith(f"plan: {service} 1.0.0 -> 2.0.0, 2 replica(s)")
    assert main.main(["rollout", service, "--to", "2.0.0"]) == 0
    assert {ref for ref in fake.images_of(service)} == {f"lab/{service}:2.0.0"}


def test_without_to_the_words_still_resume_and_undo(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(["rollout", "resume"]) == 2
    assert "no interrupted rollout to resume" in capsys.readouterr().err
    assert main.main(["rollout", "undo", "web"]) == 2
    assert "no interrupted rollout of web to undo" in capsys.readouterr().err
    assert main.main(["rollout", "web"]) == 2
    assert "rollout needs --to VERSION" in capsys.readouterr().err


def test_an_unavailable_percentage_over_100_is_bad_input(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(["rollout", "web", "--to", "2.0.0", "--max-unavailable", "250%"]) == 2
    err = capsys.readouterr().err
    assert "option max_unavailable cannot be more than 100%, not '250%'" in err
    assert fake.called("add_replicas") == []


def test_traffic_asks_for_the_gateway_port_once(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.ports[("gateway", 8080)] = 9  # the discard port: nothing answers on loopback
    assert main.main(["traffic", "--rps", "5", "--duration", "0.3"]) == 1
    assert fake.called("published_port") == [("gateway", 8080)]
    assert "sending 5 req/s for 0.3 s to http://127.0.0.1:9/" in capsys.readouterr().err


@pytest.mark.parametrize("failing", [0, 1])  # the reading at the start, at the end
def test_traffic_says_unknown_when_the_proxy_s_meter_gives_no_whole_reading(
    fake: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    failing: int,
) -> None:
    fake.ports[("gateway", 8080)] = 9
    readings = [0]

    def proxy_figures(self: Lab, url: str) -> dict[str, VersionFigures]:
        readings[0] += 1
        if readings[0] - 1 == failing:
            why = "the traffic layer's meter answered 503: the dump was cut short"
            raise MeterUnreadable(why, "read it again")
        return {"1.0.0": VersionFigures({"2xx": 5 * readings[0]}, {}, 5 * readings[0])}

    monkeypatch.setattr(Lab, "proxy_figures", proxy_figures)
    assert main.main(["traffic", "--rps", "5", "--duration", "0.3"]) == 1  # the load's failures
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("traffic layer"))
    expected = "the dump was cut short" if failing else "no whole reading to count from"
    assert line.startswith("traffic layer (per version): unknown (") and expected in line
    assert "requests" not in out.split("traffic layer")[1]  # no figures from a failed reading
    readings[0] = 0
    assert main.main(["traffic", "--rps", "5", "--duration", "0.3", "--json"]) == 1
    data = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert data["proxy"] is None and expected in data["proxy_unknown"]


def test_status_json_is_made_from_the_typed_status(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    web = next(s for s in status["services"] if s["service"] == "web")
    assert (web["ready"], web["desired"], web["managed"]) == (2, 2, True)
    assert web["unfinished_rollout"] is None
    assert {r["tag"] for r in web["replicas"]} == {"1.0.0"}
    # every instant as the events and history give theirs: UTC, milliseconds, Z
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", status["taken_at"])
    assert main.main(["versions", "web", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["web"]
    assert [(r["version"], r["current"]) for r in rows] == [("1.0.0", True), ("2.0.0", False)]


def test_status_shows_no_health_for_a_replica_that_does_not_run(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Docker keeps an exited container's last health ("healthy"): the table says exited,
    and so does the JSON (it gave the stale health)."""
    stopped = fake.of("web")[0]
    stopped.state = "exited"
    assert main.main(["status"]) == 0
    out = capsys.readouterr().out
    rows = {word: line.split() for line in out.splitlines() for word in line.split()
            if word.startswith("lab-web-")}  # fmt: skip
    assert rows["lab-web-1"][-3:-1] == ["exited", "-"], out
    assert rows["lab-web-2"][-3:-1] == ["running", "healthy"], out
    assert main.main(["status", "--json"]) == 0
    (web,) = [s for s in json.loads(capsys.readouterr().out)["services"] if s["service"] == "web"]
    health = {r["container"]: (r["state"], r["health"]) for r in web["replicas"]}
    assert health == {"lab-web-1": ("exited", None), "lab-web-2": ("running", "healthy")}


def test_drift_exits_0_with_none_and_1_naming_each_difference(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(["drift"]) == 0
    assert capsys.readouterr().out == "no drift: 3 service(s), 6 replica(s) run what was decided\n"
    fake.start("web", "lab/web:2.0.0", 1)  # a replica started outside agentlab
    assert main.main(["drift", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    [drift] = report["drift"]
    assert (drift["service"], drift["kind"], drift["subject"]) == (
        "web",
        "replica_image",
        "lab-web-3",
    )
    assert main.main(["status", "--json"]) == 0
    replicas = json.loads(capsys.readouterr().out)["services"][2]["replicas"]
    assert [r["drift"] is not None for r in replicas] == [False, False, True]


def test_drift_counts_running_replicas_and_names_a_service_with_none_running(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every container exited, it said `no drift: 3 service(s), 6 replica(s) run what was
    decided`. Nothing running is not drift (exit 0), but is said."""
    for container in fake.of("web"):
        container.state = "exited"
    assert main.main(["drift"]) == 0
    assert capsys.readouterr().out == (
        "web: no replica running (agentlab up starts it)\n"
        "no drift: 3 service(s), 4 replica(s) run what was decided\n"
    )
    for container in fake.containers.values():
        container.state = "exited"
    assert main.main(["drift", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["replicas"], report["not_running"]) == (0, ["resume", "undo", "web"])
    assert main.main(["drift"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "web: no replica running (agentlab up starts it)",
        "no drift: 3 service(s), no replica running",
    ]


def test_drift_when_the_registry_does_not_answer_is_one_line_and_exit_3_unless_drift(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    down = TagDigests(error=EngineUnavailable("the registry at 127.0.0.1:1 does not answer",
                                              hint="agentlab up starts it"))  # fmt: skip
    monkeypatch.setattr(drift_reading, "read_tags", lambda _wanted: down)
    assert main.main(["drift"]) == 3
    assert capsys.readouterr().out == (
        "unknown: the registry at 127.0.0.1:1 does not answer: its tags were not compared "
        "(hint: agentlab up starts it)\n"
    )
    fake.start("web", "lab/web:2.0.0", 1)  # known drift wins: exit 1
    assert main.main(["drift", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["unknown"].startswith("the registry at ")


def test_weight_checks_its_input_then_moves_a_running_canary_which_holds_there(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(["weight", "web", "30"]) == 2  # nothing runs yet
    assert "no canary of web is running" in capsys.readouterr().err
    outcomes: list[str] = []
    lab = commands_base.open_lab(argparse.Namespace())
    canary = {"strategy": "canary", "steps": "50,pause"}  # quiet: stdout is the weight's
    rolling = threading.Thread(
        target=lambda: outcomes.append(lab.rollout("web", "2.0.0", canary).outcome)
    )
    rolling.start()
    try:
        step = wait_for_canary_step("pause until promoted")
        assert step == "pause until promoted"
        for bad in ("101", "-5", "half"):
            assert main.main(["weight", "web", bad]) == 2
            assert "a canary weight is a whole percent from 0 to 100" in capsys.readouterr().err
        assert main.main(["weight", "nope", "30"]) == 2
        capsys.readouterr()
        assert main.main(["weight", "web", "100%", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == {"service": "web", "weight": 100,
                                                        "taken": True}  # fmt: skip
        assert wait_for_canary_step("set weight 100% by hand, held")
        assert sorted(fake.images_of("web")).count("lab/web:2.0.0") == 2  # all, stable kept
        assert len(fake.images_of("web")) == 4
    finally:
        capsys.readouterr()
        promoted = main.main(["promote", "web"])
        said = capsys.readouterr()
        rolling.join(timeout=60)
    assert promoted == 0 and said.out.startswith("promote sent to the canary of web: ")
    assert outcomes == ["complete"]
    assert set(fake.images_of("web")) == {"lab/web:2.0.0"}


def wait_for_canary_step(step: str, timeout: float = 30.0) -> str:
    """The step web's running canary is in, once it is `step` (status shows it)."""
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        view = commands_base.open_lab(argparse.Namespace()).status().canaries.get("web")
        seen = view.step if view else ""
        if seen == step:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the canary of web never reached '{step}' (last: '{seen}')")


@pytest.mark.parametrize(("sent", "code", "what"), SIGNAL_EXITS)
def test_a_signal_mid_rollout_says_so_in_one_line_and_how_to_finish_it(
    fake: FakeEngine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sent: signal.Signals,
    code: int,
    what: str,
) -> None:
    """A CI job cancelled (SIGTERM) mid-rollout once died without a word (exit 143 from
    the signal): it now stops as at Ctrl-C, one line, and the journal keeps the step. The
    hint said `agentlab status shows what is running`: it names resume and undo."""
    add_replicas = fake.add_replicas
    monkeypatch.setattr(fake, "add_replicas", signalled_after_starting(fake, sent))
    assert main.main(["rollout", "web", "--to", "2.0.0"]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {what} (hint: agentlab rollout resume web, or agentlab rollout undo web)"
    ]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    monkeypatch.setattr(fake, "add_replicas", add_replicas)
    assert main.main(["rollout", "undo", "web"]) == 0


def test_an_interrupt_outside_a_rollout_points_at_status(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rollout left unfinished by an earlier run is not this interrupt's: the hint is the
    general one."""
    add_replicas = fake.add_replicas

    def interrupted(*_: object, **__: object) -> list[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(fake, "add_replicas", interrupted)
    assert main.main(["rollout", "web", "--to", "2.0.0"]) == 130
    monkeypatch.setattr(fake, "add_replicas", add_replicas)
    capsys.readouterr()
    monkeypatch.setattr(fake, "replicas", interrupted)
    assert main.main(["status"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: interrupted (hint: agentlab status shows what is running)"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["traffic", "--duration", "0"], "duration must be above 0"),
        (["logs", "web-1", "-n", "0"], "-n must be 1 or more"),
    ],
)
def test_bad_numbers_are_one_line_before_anything_runs(
    fake: FakeEngine, args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`traffic --duration -1` printed `sending ... for -1 s` before its error, and
    `logs -n -5` printed the whole log with exit 0 (negative values are now refused by the
    parser, tests/cli/test_negative_values.py; 0 is still each command's check)."""
    assert main.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert says in captured.err and fake.called("logs_tail") == []


def test_up_refuses_to_start_over_an_interrupted_rollout(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`up` after a rollout cut short (SIGTERM after its first new replica) ran Compose over
    it: the old replicas recreated at once, not rolled, the new one left out of the name,
    the journal still unfinished, and exit 0. It now says to resume or undo, and changes
    nothing."""
    add_replicas = fake.add_replicas
    monkeypatch.setattr(fake, "add_replicas", signalled_after_starting(fake, signal.SIGTERM))
    assert main.main(["rollout", "web", "--to", "2.0.0"]) == 143
    monkeypatch.setattr(fake, "add_replicas", add_replicas)
    capsys.readouterr()
    left = sorted(fake.images_of("web"))
    calls = len(fake.calls)
    for args in (["up"], ["up", "--set", "web=2.0.0"], ["up", "--dry-run"]):
        assert main.main(args) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [  # one line: no warning that says it again
            "error: the rollout of web 1.0.0 -> 2.0.0 was interrupted after 0 steps, 1 more "
            "under way (hint: agentlab rollout resume web, or agentlab rollout undo web)"
        ]
    merged = io.StringIO()  # stdout and stderr as a terminal shows them, in order
    monkeypatch.setattr(sys, "stdout", merged)
    monkeypatch.setattr(sys, "stderr", merged)
    assert main.main(["status"]) == 0  # a command that goes on warns first
    assert merged.getvalue().startswith("warning: the rollout of web 1.0.0 -> 2.0.0")
    merged.truncate(0)
    merged.seek(0)
    assert main.main(["status", "--json"]) == 0  # and says it to scripts in its document
    document = json.loads(merged.getvalue().split("\n", 1)[1])  # after the warning
    (web,) = [s for s in document["services"] if s["service"] == "web"]
    assert web["unfinished_rollout"] == {
        "service": "web",
        "state": "interrupted",
        "from_version": "1.0.0",
        "to_version": "2.0.0",
        "line": "the rollout of web 1.0.0 -> 2.0.0 was interrupted after 0 steps, 1 more under way",
        "hint": "agentlab rollout resume web, or agentlab rollout undo web",
    }
    assert sorted(fake.images_of("web")) == left
    assert not [call for call in fake.calls[calls:] if call[0] in ("up", "add_replicas")]
    merged.seek(0), merged.truncate()
    assert main.main(["rollout", "undo", "web"]) == 0
    assert "warning" not in merged.getvalue().splitlines()[-1]  # not after it is undone
    assert main.main(["up"]) == 0


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["up", "--set", "web=9.9.9", "--json"], 2),  # bad input
        (["rollout", "web", "--to", "9.9.9", "--json"], 2),
        (["up", "--set", "web=3.0.0", "--json"], 1),  # rolled back
        (["status", "--json"], 3),  # engine unavailable
        (["versions", "--json"], 3),
        (["drift", "--json"], 3),
        (["up", "--json"], 3),
    ],
)
def test_a_failed_json_command_prints_no_document(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str], args: list[str], code: int
) -> None:
    """What a CI script reads: stdout is a whole JSON document or nothing, never part of
    one; the error is its one line on stderr (with its details below it, if any)."""
    fake.add_image("lab/web:3.0.0", Behaviour(healthy_after=None, unhealthy_after=1))
    fake.unavailable = code == 3
    assert main.main(args) == code
    out, err = capsys.readouterr()
    assert out == ""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "(hint: " in errors[0], err


def test_a_failed_rollout_s_json_events_end_with_its_outcome(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rollout --json` is one event per line: each line whole, the last its outcome."""
    fake.add_image("lab/web:3.0.0", Behaviour(healthy_after=None, unhealthy_after=1))
    assert main.main(["rollout", "web", "--to", "3.0.0", "--json"]) == 1
    out, err = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["event"] == "rollout_finished"
    assert events[-1]["outcome"] == "rolled-back"
    assert err.splitlines()[0].startswith("error: rolled-back: ")


def test_up_refuses_what_the_engine_cannot_run_before_anything_changes(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key the engine cannot run (start_interval before Docker 25) made Compose create the
    networks, then fail: `up` and its dry run now refuse it first, exit 2, in one line."""
    fake.unsupported_lines = ["web: healthcheck.start_interval needs Docker Engine 25", "x"]
    calls = len(fake.calls)
    for args in (["up"], ["up", "--dry-run"], ["up", "--set", "web=2.0.0"]):
        assert main.main(args) == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: web: healthcheck.start_interval needs Docker Engine 25 "
                               "(and 1 more) (hint: remove it from the compose file")  # fmt: skip
    assert not [call for call in fake.calls[calls:] if call[0] in ("up", "add_replicas")]


def test_history_says_how_a_revision_rolled_and_why_it_was_rolled_back(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """The revision of a rolled-back rollout keeps its strategy and the rollout's reason,
    in the table (a line under it) and in JSON."""
    fake.add_image("lab/web:3.0.0", Behaviour(healthy_after=None, unhealthy_after=1))
    assert main.main(["rollout", "web", "--to", "3.0.0", "--strategy", "recreate"]) == 1
    line = capsys.readouterr().err.splitlines()[0]
    reason = line.removeprefix("error: rolled-back: ").partition(" (hint: ")[0]
    assert main.main(["history", "web", "--json"]) == 0
    *_, last = json.loads(capsys.readouterr().out)
    assert (last["version"], last["strategy"], last["outcome"]) == ("3.0.0", "recreate",
                                                                     "rolled-back")  # fmt: skip
    assert last["reason"] == reason and "rolled back to" in reason
    assert main.main(["history", "web"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "STRATEGY" in table[0].split()
    assert table[-1] == f"web {last['number']}: {reason}"


def test_an_interrupted_start_leaves_no_revision_in_progress(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while `up` started a service at a new version left its revision
    `in-progress` in history for good: no rollout journal finishes it, and the next `up`
    does not touch it."""
    for version in ("1.0.0", "1.1.0"):
        fake.add_image(f"lab/worker:{version}")
    fake.pin("worker", "lab/worker:1.0.0")  # not running: up starts it

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fake, "up", interrupted)
    assert main.main(["up", "--set", "worker=1.1.0"]) == 130
    capsys.readouterr()
    assert main.main(["history", "worker", "--json"]) == 0
    [revision] = json.loads(capsys.readouterr().out)
    assert (revision["version"], revision["outcome"]) == ("1.1.0", "failed")
    assert revision["finished_at"]


def test_down_says_what_it_waits_for(fake: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    """A container that ignores SIGTERM keeps down waiting its stop grace: said first."""
    assert main.main(["down"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "taking project lab down (a container that ignores SIGTERM takes its stop grace period)",
        "project lab is down",
    ]
    assert fake.images_of("web") == []


@pytest.mark.parametrize("command", [["status"], ["history", "--json"], ["drift"], ["versions"]])
def test_a_read_of_a_project_never_started_creates_no_state(
    fake: FakeEngine, tmp_path: Path, command: list[str]
) -> None:
    state = tmp_path / ".agentlab"  # `agentlab -p typo status` would leave one per typo
    assert not state.exists()
    assert main.main(command) in (0, 1)
    assert not state.exists()


class _WatchCutShort:
    """A watcher whose stop pauses the rollout it runs, as watch's end does mid-rollout."""

    def __init__(self, lab: Lab, _show: object) -> None:
        self.lab, self.files = lab, ()

    def label(self, path: object) -> str:
        return str(path)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self.lab.rollout("web", "2.0.0", cause="watch", pause=lambda: True)


class _NoDrift:
    def __init__(self, _lab: Lab, _show: object) -> None:
        return None

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


@pytest.mark.parametrize("ended_by", ["duration", "sigterm"])
def test_watch_ended_mid_rollout_says_so_and_does_not_exit_0(
    fake: FakeEngine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ended_by: str,
) -> None:
    """A cancelled CI job (SIGTERM) or --duration ending mid-rollout exited 0 with only
    'stopping', the rollout left paused."""
    monkeypatch.setattr("agentlab.lab.watch.watcher.Watcher", _WatchCutShort)
    monkeypatch.setattr("agentlab.lab.watch.drift_watch.DriftWatch", _NoDrift)
    if ended_by == "sigterm":
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        code = main.main(["watch", "--duration", "30"])
        assert code == 143
        line = "error: terminated (SIGTERM) (hint: agentlab rollout resume web, or"
    else:
        code = main.main(["watch", "--duration", "0.1"])
        assert code == 1
        line = "error: watch ended after 0.1s with the rollout of web paused (hint: agentlab"
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(line)
    assert main.main(["rollout", "undo", "web"]) == 0


def test_an_up_cut_short_in_a_rollout_says_to_run_it_again_after_the_resume(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rollout resume` finishes the one service `up` was rolling: the services after it
    were never reached, and only the hint can say so."""
    monkeypatch.setattr(fake, "add_replicas", signalled_after_starting(fake, signal.SIGTERM))
    assert main.main(["up", "--set", "web=2.0.0"]) == 143
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (
        "error: terminated (SIGTERM) (hint: agentlab rollout resume web, or agentlab rollout "
        "undo web; then the same agentlab up again, for the rest)"
    )


def test_a_scale_cut_short_puts_the_service_back_as_it_was(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM mid-scale left the replicas it had started running out of the name, with
    nothing pointing to them (status 3/3 over 5 rows, drift quiet)."""
    monkeypatch.setattr(fake, "add_replicas", signalled_after_starting(fake, signal.SIGTERM))
    assert main.main(["scale", "web", "4"]) == 143
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "error: terminated (SIGTERM) (hint: agentlab status shows what is running)"
    assert len(fake.of("web")) == 2
    assert all(c.named for c in fake.of("web"))


def test_rollback_with_no_service_goes_back_where_there_is_an_earlier_revision(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rollback` after `rollout worker` picked the first primary service, which had no
    revision ("web has no earlier revision"); it rolls back the one service that has one,
    and asks for a name when several have."""
    fake.add_image("lab/worker:1.0.0")
    fake.add_image("lab/worker:2.0.0")
    fake.add_service("worker", "lab/worker:1.0.0", replicas=1)
    assert main.main(["rollout", "worker", "--to", "2.0.0"]) == 0
    assert main.main(["rollback"]) == 0
    assert sorted(fake.images_of("worker")) == ["lab/worker:1.0.0"]
    assert main.main(["rollout", "web", "--to", "2.0.0"]) == 0
    capsys.readouterr()
    assert main.main(["rollback"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: name the service to roll back (hint: one of web, worker)"
    )
