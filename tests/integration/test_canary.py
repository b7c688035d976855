"""Canaries on a project that is not the demo (webapp: 3 replicas with a healthcheck),
through agentlab's traffic layer, on the real engine: a 5 %-errors version fails its gate
and every request goes back to stable; a good one goes 10 -> 50 -> 100 losing nothing;
promote and abort come from another process; kill -9 mid-canary, then undo or resume."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from agentlab.traffic.haproxy import HAProxyRouter
from agentlab.traffic.load import TrafficGenerator
from agentlab.traffic.metrics import Figures, VersionFigures, of_backends, read
from tests.conftest import BACKGROUND, LabRun, base_image_env

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("webapp_images", "proxy_image")]
BACKEND = "agentlab_web_8000"
EVENT_TIMEOUT = 180.0
GATED = ["--strategy", "canary", "--gate", "error_rate < 1%", "--analysis-interval", "2s",
         "--analysis-count", "3", "--min-requests", "10"]  # fmt: skip


def published(lab: LabRun, port: int) -> int:
    return lab.published("agentlab-proxy", port)


def entry(lab: LabRun) -> str:
    return f"http://127.0.0.1:{published(lab, 10000)}/version"


def figures(lab: LabRun, backend: str = BACKEND) -> dict[str, VersionFigures]:
    found: Figures = read(f"http://127.0.0.1:{published(lab, 9101)}/metrics/versions")
    return of_backends(found, [backend, f"{backend}_canary"])


def routes(lab: LabRun, backend: str = BACKEND) -> list[tuple[str, str, int]]:
    """(version, state, weight) of each server behind the service."""
    router = HAProxyRouter("127.0.0.1", published(lab, 9999))
    return sorted((r.version, r.state, r.weight) for r in router.routes(backend))


Counts = dict[str, VersionFigures]


def requests_of(now: Counts, before: Counts) -> dict[str, int]:
    counts = {v: f.requests - before.get(v, VersionFigures()).requests for v, f in now.items()}
    return {v: n for v, n in counts.items() if n}


class Background:
    """An agentlab command in a subprocess, its --json events read as they come (killed
    after the test, before its lab goes down, when it still runs: a failed test leaves no
    canary waiting)."""

    def __init__(self, lab: LabRun, *args: str) -> None:
        command = [sys.executable, "-m", "agentlab", "-f", str(lab.compose_file),
                   "-p", lab.project, *args]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=lab.env)  # fmt: skip
        self.events: list[dict[str, Any]] = []
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        BACKGROUND.append(self.process)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def until(self, kind: str, **match: Any) -> dict[str, Any]:
        """Read events up to the first of `kind` whose fields match (bounded in time)."""
        deadline = time.monotonic() + EVENT_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            event: dict[str, Any] = json.loads(line)
            self.events.append(event)
            if event["event"] == kind and all(event.get(k) == v for k, v in match.items()):
                return event
        self.process.kill()
        _, err = self.process.communicate(timeout=30)
        raise AssertionError(f"no {kind} {match}: {self.events[-5:]} {err}")

    def finish(self) -> tuple[int, str]:
        """Wait for the exit (bounded); its code and stderr."""
        try:
            self.process.wait(EVENT_TIMEOUT)
        finally:
            self.process.kill()
        assert self.process.stderr is not None
        err = self.process.stderr.read()
        while (line := self.lines.get(timeout=30)) is not None:
            self.events.append(json.loads(line))
        return self.process.returncode, err


@pytest.fixture
def load(layered: LabRun) -> Iterator[TrafficGenerator]:
    with TrafficGenerator(entry(layered), 100) as generator:
        time.sleep(0.5)
        yield generator


def bad_canary(
    lab: LabRun, load: TrafficGenerator, service: str, bad: str, stable: str, backend: str
) -> None:
    """A 10 % canary of `bad` (5 % errors) fails its gate: exit 1, the bad version had its
    10 +-3 % of requests, none after the abort, and the only failed requests were its 500s."""
    canary = Background(lab, "rollout", service, "--to", bad, *GATED, "--json")
    canary.until("weight_set", percent=10)
    at_ten = figures(lab, backend)
    canary.until("rollback_started")
    at_abort = figures(lab, backend)
    code, err = canary.finish()
    assert code == 1, err
    assert "gate failed: error_rate" in err and "limit < 1%" in err
    checks = [e for e in canary.events if e["event"] == "gate_checked"]
    assert checks and checks[-1]["verdict"] == "fail"
    during = requests_of(at_abort, at_ten)
    share = 100 * during.get(bad, 0) / sum(during.values())
    assert abs(share - 10) <= 3, during  # the bad version had its 10 %, no more
    after_abort = figures(lab, backend)
    time.sleep(1.0)
    assert bad not in requests_of(figures(lab, backend), after_abort)  # 0 to the bad one
    assert {v for v, _, _ in routes(lab, backend)} == {stable}
    report = load.stop()
    errors = figures(lab, backend).get(bad, VersionFigures()).errors
    assert report.lost == errors and set(report.failures) - {"backlog"} <= {"500"}, report.lines()


def test_a_canary_with_5_percent_errors_fails_its_gate_and_goes_back_to_stable(
    layered: LabRun, load: TrafficGenerator
) -> None:
    bad_canary(layered, load, "web", "1.3.0", "1.0.0", BACKEND)


@pytest.mark.usefixtures("demo_images")
def test_the_demo_labs_errors_version_fails_a_10_percent_canary(demo_lab: LabRun) -> None:
    demo_lab.env["AGENTLAB_PROXY_IMAGE"] = base_image_env().get(
        "AGENTLAB_PROXY_IMAGE", "haproxy:2.6"
    )
    up = demo_lab("up", "--version", "1.3.0", "--traffic-layer", "agent:8000")
    assert up.code == 0, up.err
    with TrafficGenerator(entry(demo_lab), 100) as load:
        time.sleep(0.5)
        bad_canary(demo_lab, load, "agent", "1.6.0", "1.3.0", "agentlab_agent_8000")


def test_a_good_canary_goes_10_50_100_with_analysis_and_loses_nothing(
    layered: LabRun, load: TrafficGenerator
) -> None:
    done = layered("rollout", "web", "--to", "1.1.0", *GATED, "--analysis-count", "1",
                   "--json")  # fmt: skip
    assert done.code == 0, done.err
    events = [json.loads(line) for line in done.out.splitlines()]
    assert [e["percent"] for e in events if e["event"] == "weight_set"] == [10, 50, 100]
    assert {e["verdict"] for e in events if e["event"] == "gate_checked"} == {"pass"}
    report = load.stop()
    assert report.lost == 0, report.lines()
    assert routes(layered) == [("1.1.0", "ready", 1)] * 3


def test_promote_from_another_process_ends_a_paused_canary_on_the_new_version(
    layered: LabRun,
) -> None:
    canary = Background(layered, "rollout", "web", "--to", "1.1.0", "--strategy", "canary",
                        "--steps", "50,pause,100", "--json")  # fmt: skip
    canary.until("weight_set", percent=50)
    assert sorted(v for v, _, w in routes(layered) if w) == ["1.0.0"] * 3 + ["1.1.0"] * 2
    status = layered("status")
    assert status.code == 0, status.err
    assert re.search(r"canary: web 1\.0\.0 -> 1\.1\.0, step [12] of 3 \(.*\); "
                     r"weights 1\.0\.0 50%, 1\.1\.0 50%", status.out), status.out  # fmt: skip
    [web] = [s for s in layered("status", "--json").json()["services"] if s["service"] == "web"]
    assert web["canary"]["shares"] == {"1.0.0": 50, "1.1.0": 50}
    assert web["canary"]["strategy"] == "canary"
    promoted = layered("promote", "web")
    assert promoted.code == 0, promoted.err
    code, err = canary.finish()
    assert code == 0, err
    assert routes(layered) == [("1.1.0", "ready", 1)] * 3


def test_a_header_routed_request_reaches_the_canary_every_time_at_weight_0(
    layered: LabRun,
) -> None:
    canary = Background(layered, "rollout", "web", "--to", "1.1.0", "--strategy", "canary",
                        "--steps", "0,pause,100", "--json")  # fmt: skip
    canary.until("weight_set", percent=0)

    def versions(headers: dict[str, str]) -> set[str]:
        seen = set()
        for _ in range(20):
            request = urllib.request.Request(entry(layered), headers=headers)
            with urllib.request.urlopen(request, timeout=5) as answer:
                seen.add(json.loads(answer.read())["version"])
        return seen

    assert versions({"X-Canary": "always"}) == {"1.1.0"}
    assert versions({}) == {"1.0.0"}
    assert layered("abort", "web").code == 0
    code, err = canary.finish()
    assert code == 1 and "aborted on request" in err, err
    assert versions({"X-Canary": "always"}) == {"1.0.0"}  # no canary: the header goes nowhere


def test_killed_at_50_percent_then_undone_returns_everything_to_stable(layered: LabRun) -> None:
    canary = Background(layered, "rollout", "web", "--to", "1.1.0", "--strategy", "canary",
                        "--steps", "50,pause,100", "--json")  # fmt: skip
    canary.until("weight_set", percent=50)
    canary.process.send_signal(signal.SIGKILL)
    canary.process.wait(30)
    assert layered("promote", "web").code == 2  # nothing runs to take it
    status = layered("status")  # the weights it left hold until undo: status says so
    assert re.search(r"canary: web 1\.0\.0 -> 1\.1\.0, step \d of 3 \(.*\), interrupted "
                     r"\(rollout resume or undo\); weights 1\.0\.0 50%, 1\.1\.0 50%",
                     status.out), status.out  # fmt: skip
    undone = layered("rollout", "undo", "web")
    assert undone.code == 0, undone.err
    assert routes(layered) == [("1.0.0", "ready", 1)] * 3


def test_killed_at_50_percent_then_resumed_continues_from_its_step(layered: LabRun) -> None:
    canary = Background(layered, "rollout", "web", "--to", "1.1.0", "--strategy", "canary",
                        "--steps", "50,pause,100", "--json")  # fmt: skip
    canary.until("step_started", description="canary: pause until promoted")
    canary.process.send_signal(signal.SIGKILL)
    canary.process.wait(30)
    resumed = Background(layered, "rollout", "resume", "web", "--json")
    resumed.until("step_started", description="canary: pause until promoted")
    assert not any(e["event"] == "replica_started" for e in resumed.events)  # 50 % was kept
    aborted = layered("abort", "web")
    assert aborted.code == 0, aborted.err
    code, err = resumed.finish()
    assert code == 1 and "aborted on request" in err, err
    assert routes(layered) == [("1.0.0", "ready", 1)] * 3


def versions_at(url: str, count: int = 10) -> set[str]:
    seen = set()
    for _ in range(count):
        with urllib.request.urlopen(url, timeout=5) as answer:
            seen.add(json.loads(answer.read())["version"])
    return seen


def test_blue_green_preview_switch_and_an_instant_abort_within_the_delay(
    layered: LabRun, load: TrafficGenerator
) -> None:
    green = Background(layered, "rollout", "web", "--to", "1.1.0", "--strategy", "blue-green",
                       "--scale-down-delay", "2m", "--json")  # fmt: skip
    ready = green.until("weight_set", percent=0)
    assert ready["canary_replicas"] == 3 and ready["preview"]
    assert versions_at(ready["preview"] + "version") == {"1.1.0"}
    assert set(load.snapshot().versions) == {"1.0.0"}  # no user traffic to green yet
    assert "blue-green: web 1.0.0 -> 1.1.0, step" in layered("status").out
    [web] = [s for s in layered("status", "--json").json()["services"] if s["service"] == "web"]
    assert web["canary"]["strategy"] == "blue-green"
    assert layered("promote", "web").code == 0
    green.until("old_set_kept")
    assert versions_at(entry(layered)) == {"1.1.0"}  # every request, right after the switch
    assert sorted(v for v, _, w in routes(layered) if w) == ["1.1.0"] * 3
    aborted_at = time.monotonic()
    assert layered("abort", "web").code == 0
    green.until("rollback_started")
    assert versions_at(entry(layered)) == {"1.0.0"}  # blue was still there: back at once
    assert time.monotonic() - aborted_at < 10  # not the 2 minutes of the delay
    code, err = green.finish()
    assert code == 1 and "aborted on request" in err, err
    report = load.stop()
    assert report.lost == 0, report.lines()
    assert {"1.0.0", "1.1.0"} <= set(report.versions)
    assert routes(layered) == [("1.0.0", "ready", 1)] * 3


def test_blue_green_with_auto_promote_ends_on_green_after_its_delay(layered: LabRun) -> None:
    done = layered("rollout", "web", "--to", "1.1.0", "--strategy", "blue-green",
                   "--auto-promote", "--scale-down-delay", "1s")  # fmt: skip
    assert done.code == 0, done.err
    assert "the old set stays 1s" in done.out
    assert routes(layered) == [("1.1.0", "ready", 1)] * 3


@pytest.mark.usefixtures("demo_images")
def test_the_demo_labs_slow_version_fails_a_latency_gate_against_stable(demo_lab: LabRun) -> None:
    demo_lab.env["AGENTLAB_PROXY_IMAGE"] = base_image_env().get(
        "AGENTLAB_PROXY_IMAGE", "haproxy:2.6"
    )
    assert demo_lab("up", "--version", "1.3.0", "--traffic-layer", "agent:8000").code == 0
    with TrafficGenerator(entry(demo_lab), 50):
        done = demo_lab("rollout", "agent", "--to", "1.7.0", "--strategy", "canary",
                        "--steps", "20,100", "--gate", "p99 < 1.5 * stable.p99",
                        "--analysis-interval", "2s", "--min-requests", "5")  # fmt: skip
    assert done.code == 1, done.err
    assert "gate failed: p99 500ms (limit < " in done.err, done.err
    assert {v for v, _, _ in routes(demo_lab, "agentlab_agent_8000")} == {"1.3.0"}


def test_rollout_traffic_prints_each_canary_steps_figures_per_version(layered: LabRun) -> None:
    done = layered("rollout", "web", "--to", "1.1.0", "--strategy", "canary", "--steps",
                   "50,pause 2s,100", "--traffic", "50", "--json")  # fmt: skip
    assert done.code == 0, done.err
    events = [json.loads(line) for line in done.out.splitlines()]
    steps = [e["proxy"] for e in events if e["event"] == "step_traffic"]
    assert any(set(step) == {"1.0.0", "1.1.0"} for step in steps), steps  # during 50 %
    traffic = next(e for e in events if e["event"] == "traffic")
    assert traffic["failed"] == 0
