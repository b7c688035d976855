"""Issue #3: rolling upgrades and rollback, agentlab against plain Compose and Swarm.

Same images (agentlab-demo/agent 1.2.0 -> 1.3.0, bad 1.3.0 -> 1.4.0; frozen for the run under a
private tag, see benchlib.lab_snapshot), same health check (read from agentlab/demo/compose.yaml),
same load for every tool: 50 req/s, open loop, from this host through
the demo gateway (agentlab-demo/gateway:1.0.0, which retries a refused connection on another
replica for RETRY_BUDGET seconds, then answers 502) published on 127.0.0.1. For agentlab and
Compose the gateway is the project's own `gateway` service; for Swarm it is a container of the
same image on the service's attachable overlay network, with compose.yaml's environment,
health check and stop grace period, and UPSTREAM_SERVICE set to the Swarm service (the
collector likewise, and the Swarm service gets the agent's).
A request fails when the gateway answers 5xx or nothing comes back within 5 s.

Tools:
  agentlab   `agentlab rollout agent --to V --max-surge 1 --max-unavailable 0`
  compose    change the pinned version in an override, `docker compose up -d` (recreate)
  swarm      `docker service update --update-order start-first --update-parallelism 1
              --image <image id> --no-resolve-image` on a single-node swarm (dnsrr endpoints)

Times run from the command's start. `converged`: a watcher (`docker ps` + `docker inspect`
every 0.25 s, the same for every tool) sees exactly N running replicas, all healthy at the
target image, and it stays so. `command`: the command returned. `done` = the later of the
two (Compose's `up -d` returns before the new replicas are healthy; agentlab and Swarm return
after their monitor window). Bad image: `back` = the watcher sees N healthy replicas of the
old image again, with no bad replica running, after a bad one was seen.

Every trial starts from a fresh set-up (N healthy replicas), and the trials are interleaved
in rounds: each round runs every tool once at each size and once on the bad image, in an
order that rotates round after round, so that load changes on a shared machine fall on every
tool alike. Only one tool's deployment exists at a time.

    .venv/bin/python benchmarks/bench_rollout.py [--quick] [--trials N] [--replicas 3,10]

Targets: 0 failed requests through the gateway during agentlab rollouts; agentlab `done` no
worse than Swarm's (median, each replica count); agentlab back on the old version sooner than
Swarm's automatic rollback (median). Exit 0 when all are met, 1 when one is missed (or a run
broke), 2 when it cannot run here.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import (
    Done,
    SetupError,
    Watcher,
    agentlab,
    all_healthy_at,
    any_at,
    check_engine,
    compose,
    compose_down,
    docker,
    install_sigterm,
    lab,
    lab_snapshot,
    machine,
    median,
    note,
    pins_override,
    project_name,
    replicas_override,
    run,
    running_containers,
    say,
    secs,
    table,
    verdict,
)
from benchswarm import SETTLE_TIMEOUT, Swarm, ms, wait_until

from agentlab.common.durations import parse_duration
from agentlab.project.config import load_settings
from agentlab.rollout.settings import build_settings
from agentlab.traffic.load import TrafficGenerator

RPS = 50.0
CLIENT_TIMEOUT = 5.0  # s; longer than the gateway's retry budget (RETRY_BUDGET, default 3 s)
WORKERS = 64  # the most TrafficGenerator allows: keeps client-side "backlog" failures rare
WARMUP = 1.0  # s of load before the command starts
TAIL = 0.5  # s of load and watching after the state settled
COMMAND_TIMEOUT = 300.0
GOOD = ("1.2.0", "1.3.0")  # every rollout trial: from, to
BAD = "1.4.0"  # never healthy
ROLLBACK_FROM = "1.3.0"
ROLLBACK_REPLICAS = 3


@dataclass
class Trial:
    tool: str
    replicas: int
    kind: str  # rollout | bad
    from_v: str
    to_v: str
    command_s: float
    code: int
    settled_s: float | None  # converged (rollout) or back on the old version (bad)
    sent: int
    failed: int
    failures: dict[str, int]
    bad_served: int = 0
    started_s: float | None = None  # bad: when the watcher first saw a bad replica running
    unhealthy_s: float | None = None  # bad: when a bad replica first turned unhealthy
    old_unhealthy: int = 0  # replicas of the starting version seen unhealthy (flaky probes)
    max_new: int = 0  # most replicas of the target version running at once
    load: float = 0.0  # 1-minute load average when the trial started

    @property
    def done_s(self) -> float | None:
        return None if self.settled_s is None else max(self.command_s, self.settled_s)


# ---- the tools --------------------------------------------------------------------------


class Tool:
    name = ""
    label = ""

    def __init__(self, ids: dict[str, str], work: Path) -> None:
        self.ids = ids
        self.work = work

    def setup(self, replicas: int, version: str) -> None:
        raise NotImplementedError

    def watch_labels(self) -> list[str]:
        raise NotImplementedError

    def url(self) -> str:
        raise NotImplementedError

    def gateway_filters(self) -> list[str]:
        raise NotImplementedError

    def gateway_id(self) -> str:
        """The running gateway container ('' if none): it must not change during a trial."""
        filters: list[str] = []
        for item in self.gateway_filters():
            filters += ["--filter", item]
        return " ".join(docker("ps", "-q", *filters, check=False).out.split())

    def rollout(self, version: str) -> Done:
        raise NotImplementedError

    def bad(self, version: str) -> Done:
        raise NotImplementedError

    def teardown(self) -> None:
        raise NotImplementedError


def compose_gateway_url(project: str) -> str:
    out = compose("port", "gateway", "8080", project=project).out.strip()
    return f"http://127.0.0.1:{out.rsplit(':', 1)[-1]}/"


class ComposeProjectTool(Tool):
    """A tool that runs the lab as a Compose project: agent replicas and the gateway are
    found by the project's labels, the gateway by its published port."""

    project: str
    _url: str

    def watch_labels(self) -> list[str]:
        return [f"com.docker.compose.project={self.project}", "com.docker.compose.service=agent"]

    def url(self) -> str:
        return self._url

    def gateway_filters(self) -> list[str]:
        return [
            f"label=com.docker.compose.project={self.project}",
            "label=com.docker.compose.service=gateway",
        ]

    def teardown(self) -> None:
        if hasattr(self, "project"):
            compose_down(self.project)


class AgentlabTool(ComposeProjectTool):
    name = "agentlab"
    label = "agentlab rolling (surge 1, unavail. 0)"

    def setup(self, replicas: int, version: str) -> None:
        self.project = project_name("bench-ro-a")
        override = replicas_override(self.work / f"{self.project}.yaml", replicas)
        self.files = (lab().compose_file, override)
        agentlab("up", "--version", version, files=self.files, project=self.project)
        self._url = compose_gateway_url(self.project)

    def rollout(self, version: str) -> Done:
        return agentlab(
            "rollout",
            "agent",
            "--to",
            version,
            "--max-surge",
            "1",
            "--max-unavailable",
            "0",
            files=self.files,
            project=self.project,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )

    def bad(self, version: str) -> Done:
        return agentlab(
            "rollout",
            "agent",
            "--to",
            version,
            files=self.files,
            project=self.project,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )


class ComposeTool(ComposeProjectTool):
    name = "compose"
    label = "compose up -d (recreate)"

    def setup(self, replicas: int, version: str) -> None:
        self.project = project_name("bench-ro-c")
        self.replicas = replicas
        self.pins = self.work / f"{self.project}.yaml"
        pins_override(self.pins, version, replicas)
        compose("up", "-d", "--wait", files=(lab().compose_file, self.pins), project=self.project)
        self._url = compose_gateway_url(self.project)

    def rollout(self, version: str) -> Done:
        pins_override(self.pins, version, self.replicas)
        return compose(
            "up",
            "-d",
            files=(lab().compose_file, self.pins),
            project=self.project,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )


@dataclass
class ServiceRun:
    """How compose.yaml runs one service, as `docker run` / `docker service create` flags
    (both take the same --env, --health-* and --stop-grace-period flags)."""

    name: str
    environment: dict[str, str]
    healthcheck: dict[str, Any]
    stop_grace: float

    @classmethod
    def all_from_compose(cls) -> dict[str, ServiceRun]:
        config = json.loads(compose("config", "--format", "json", project="bench-config").out)
        return {
            name: cls(
                name=name,
                environment={
                    k: str(v) for k, v in (svc.get("environment") or {}).items() if v is not None
                },
                healthcheck=svc.get("healthcheck") or {},
                stop_grace=parse_duration(svc.get("stop_grace_period"), 10.0),
            )
            for name, svc in config["services"].items()
        }

    def flags(self, service: bool = False, **env: str) -> list[str]:
        """--env (compose's, then `env`), the health check and the stop grace period, for
        `docker run` (--stop-timeout) or `docker service create` (--stop-grace-period)."""
        flags: list[str] = []
        for key, value in {**self.environment, **env}.items():
            flags += ["--env", f"{key}={value}"]
        check = self.healthcheck
        if check.get("test") and not check.get("disable"):
            test = check["test"]
            command = shlex.join(test[1:]) if test[0] == "CMD" else test[1]
            flags += [
                "--health-cmd", command,
                "--health-interval", ms(parse_duration(check.get("interval"), 30.0)),
                "--health-timeout", ms(parse_duration(check.get("timeout"), 30.0)),
                "--health-retries", str(int(check.get("retries", 3))),
                "--health-start-period", ms(parse_duration(check.get("start_period"), 0.0)),
            ]  # fmt: skip
        if service:
            return [*flags, "--stop-grace-period", ms(self.stop_grace)]
        return [*flags, "--stop-timeout", str(max(1, round(self.stop_grace)))]

    def describe_health(self) -> str:
        check = self.healthcheck
        return (
            f"interval {check.get('interval')}, timeout {check.get('timeout')}, "
            f"retries {check.get('retries')}, start_period {check.get('start_period')}"
        )


class SwarmTool(Tool):
    name = "swarm"
    label = "swarm start-first (parallelism 1)"
    services: dict[str, ServiceRun]  # from compose.yaml: environment, health check, grace

    def setup(self, replicas: int, version: str) -> None:
        self.prefix = project_name("bench-ro-s")
        self.network = f"{self.prefix}-net"
        self.service = f"{self.prefix}-agent"
        self.containers = [f"{self.prefix}-collector", f"{self.prefix}-gateway"]
        self.replicas = replicas
        docker("network", "create", "--driver", "overlay", "--attachable", self.network)
        self.created_network = True
        run_on_network = ["run", "-d", "--pull", "never", "--network", self.network]
        docker(
            *run_on_network, "--name", self.containers[0], "--network-alias", "collector",
            *self.services["collector"].flags(), lab().image("collector", "1.0.0"),
        )  # fmt: skip
        docker(
            "service", "create", "--detach", "--name", self.service,
            "--network", self.network, "--endpoint-mode", "dnsrr",
            "--replicas", str(replicas), "--no-resolve-image",
            *self.services["agent"].flags(service=True), self.ids[f"agent:{version}"],
        )  # fmt: skip
        self.created_service = True
        docker(
            *run_on_network, "--name", self.containers[1], "--publish", "127.0.0.1::8080",
            *self.services["gateway"].flags(UPSTREAM_SERVICE=self.service),
            lab().image("gateway", "1.0.0"),
        )  # fmt: skip
        port = docker("port", self.containers[1], "8080").out.split()[0].rsplit(":", 1)[-1]
        self._url = f"http://127.0.0.1:{port}/"
        wait_until(
            lambda: healthy(
                running_containers(self.watch_labels()), self.ids[f"agent:{version}"], replicas
            ),
            f"{replicas} healthy swarm tasks",
        )
        wait_until(lambda: answers(self._url + "health"), "the swarm gateway to answer")

    def watch_labels(self) -> list[str]:
        return [f"com.docker.swarm.service.name={self.service}"]

    def url(self) -> str:
        return self._url

    def gateway_filters(self) -> list[str]:
        return [f"name=^{self.containers[1]}$"]

    def _update(self, version: str, *extra: str) -> Done:
        return run(
            [
                "docker",
                "service",
                "update",
                "--detach=false",
                "--update-order",
                "start-first",
                "--update-parallelism",
                "1",
                *extra,
                "--image",
                self.ids[f"agent:{version}"],
                "--no-resolve-image",
                self.service,
            ],
            check=False,
            timeout=COMMAND_TIMEOUT,
        )

    def rollout(self, version: str) -> Done:
        return self._update(version)

    def bad(self, version: str) -> Done:
        return self._update(version, "--update-failure-action", "rollback")

    def teardown(self) -> None:
        if not hasattr(self, "prefix"):
            return
        docker("rm", "-f", *self.containers, check=False)
        if getattr(self, "created_service", False):
            docker("service", "rm", self.service, check=False)
            wait_until(
                lambda: (
                    not docker(
                        "ps",
                        "-aq",
                        "--filter",
                        f"label=com.docker.swarm.service.name={self.service}",
                    ).out.split()
                ),
                "the swarm tasks to go",
                timeout=60,
                fail=False,
            )
        if getattr(self, "created_network", False):
            wait_until(
                lambda: docker("network", "rm", self.network, check=False).code == 0,
                f"network {self.network} to be removed",
                timeout=30,
                fail=False,
            )


def healthy(seen: list[Any] | None, image_id: str, count: int) -> bool:
    return seen is not None and all_healthy_at(image_id, count)(seen)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# ---- trials -----------------------------------------------------------------------------


def one_trial(tool: Tool, replicas: int, kind: str, from_v: str, to_v: str) -> Trial:
    """Load on, run the tool's command, watch until settled, load off."""
    ids = tool.ids
    old, new = ids[f"agent:{from_v}"], ids[f"agent:{to_v}"]
    settle_at = old if kind == "bad" else new
    load = os.getloadavg()[0]
    gateway = tool.gateway_id()
    watcher = Watcher(tool.watch_labels()).start()
    try:
        if not watcher.wait_for(all_healthy_at(old, replicas), SETTLE_TIMEOUT):
            raise RuntimeError(f"{tool.name}: {replicas} healthy {from_v} replicas never seen")
        generator = TrafficGenerator(tool.url(), RPS, timeout=CLIENT_TIMEOUT, workers=WORKERS)
        generator.start()
        try:
            time.sleep(WARMUP)
            t0 = time.monotonic()
            done = tool.bad(to_v) if kind == "bad" else tool.rollout(to_v)
            settled = watcher.wait_for(all_healthy_at(settle_at, replicas), SETTLE_TIMEOUT)
            time.sleep(TAIL)
        finally:
            report = generator.stop()
    finally:
        watcher.stop()
    if not gateway or tool.gateway_id() != gateway:
        raise RuntimeError(
            f"{tool.name}: the gateway was recreated or stopped during the trial "
            f"({gateway or 'none'} -> {tool.gateway_id() or 'none'}): the load went nowhere"
        )
    after = t0
    unhealthy = seen_bad = None
    if kind == "bad":
        seen_bad = watcher.first(any_at(new), after=t0)
        after = seen_bad if seen_bad is not None else float("inf")
        unhealthy = watcher.first(
            lambda seen: any(s.image_id == new and s.health == "unhealthy" for s in seen), t0
        )
    since = watcher.settled_since(all_healthy_at(settle_at, replicas), after=after)
    samples = [seen for when, seen in watcher.samples if when >= t0]
    flapped = {
        s.id for seen in samples for s in seen if s.image_id == old and s.health == "unhealthy"
    }
    max_new = max((sum(s.image_id == new for s in seen) for seen in samples), default=0)
    trial = Trial(
        tool=tool.name,
        replicas=replicas,
        kind=kind,
        from_v=from_v,
        to_v=to_v,
        command_s=done.seconds,
        code=done.code,
        settled_s=None if since is None or not settled else since - t0,
        sent=report.sent,
        failed=report.failed,
        failures=dict(report.failures),
        bad_served=report.versions[to_v].count if kind == "bad" and to_v in report.versions else 0,
        started_s=None if seen_bad is None else seen_bad - t0,
        unhealthy_s=None if unhealthy is None else unhealthy - t0,
        old_unhealthy=len(flapped),
        max_new=max_new,
        load=load,
    )
    if done.code != expected_code(tool, kind):
        note(f"{tool.name} output:\n{done.tail()}")
    return trial


def expected_code(tool: Tool, kind: str) -> int:
    """agentlab exits 1 after an automatic rollback; Swarm exits 0 (recorded as such)."""
    return 1 if kind == "bad" and tool.name == "agentlab" else 0


def describe_trial(t: Trial) -> str:
    what = "back on old" if t.kind == "bad" else "converged"
    failures = ", ".join(f"{k} x{v}" for k, v in t.failures.items())
    return (
        f"{t.tool:8} {t.replicas:2}x {t.from_v}->{t.to_v}: command {t.command_s:.2f} s "
        f"(exit {t.code}), {what} {secs(t.settled_s)}, failed {t.failed}/{t.sent}"
        + (f" ({failures})" if failures else "")
        + (
            f", {t.to_v} up at {secs(t.started_s)}, unhealthy at {secs(t.unhealthy_s)}, "
            f"served by {t.to_v}: {t.bad_served}"
            if t.kind == "bad"
            else ""
        )
        + f", at most {t.max_new} x {t.to_v} running"
        + (f", {t.old_unhealthy} {t.from_v} replica(s) seen unhealthy" if t.old_unhealthy else "")
        + f" [load {t.load:.1f}]"
    )


def run_trial(
    tool: Tool, replicas: int, kind: str, results: list[Trial], errors: list[str]
) -> None:
    """Set a tool up fresh, run one trial, tear it down (errors are recorded, not raised)."""
    start, target = (GOOD[0], GOOD[1]) if kind == "rollout" else (ROLLBACK_FROM, BAD)
    try:
        note(f"{tool.name}: setting up {replicas} replicas at {start}")
        tool.setup(replicas, start)
        trial = one_trial(tool, replicas, kind, start, target)
        results.append(trial)
        note(describe_trial(trial))
        if trial.settled_s is None:
            wanted = target if kind == "rollout" else f"back to {start}"
            raise RuntimeError(f"{tool.name} did not converge ({wanted})")
        if trial.code != expected_code(tool, kind):
            raise RuntimeError(f"exited {trial.code}, expected {expected_code(tool, kind)}")
    except RuntimeError as exc:
        errors.append(f"{tool.name} {kind} x{replicas}: {exc}")
        note(f"error: {exc}")
    finally:
        tool.teardown()


def rotate(items: list[type[Tool]], by: int) -> list[type[Tool]]:
    by %= len(items)
    return items[by:] + items[:by]


# ---- report -----------------------------------------------------------------------------


def med(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present and len(present) == len(values) else None


def ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or base <= 0:
        return "-"
    return f"{value / base:.2f}x"


def failed_cell(trials: list[Trial]) -> str:
    failed = [t.failed for t in trials]
    sent = sum(t.sent for t in trials)
    share = sum(failed) / sent if sent else 0.0
    return f"{median(failed):g} (max {max(failed)}, {share:.1%})"


def rollout_table(results: list[Trial], replicas: int, labels: dict[str, str]) -> dict[str, Any]:
    by_tool = {
        name: [
            t for t in results if t.kind == "rollout" and t.replicas == replicas and t.tool == name
        ]
        for name in labels
    }
    swarm = med([t.done_s for t in by_tool.get("swarm", [])]) if by_tool.get("swarm") else None
    rows = []
    for name, trials in by_tool.items():
        if not trials:
            rows.append([labels[name], 0, "-", "-", "-", "-", "-", "-"])
            continue
        done = med([t.done_s for t in trials])
        rows.append(
            [
                labels[name],
                len(trials),
                secs(done),
                secs(med([t.settled_s for t in trials])),
                secs(med([t.command_s for t in trials])),
                failed_cell(trials),
                sum(t.old_unhealthy for t in trials),
                ratio(done, swarm),
            ]
        )
    say(
        table(
            [
                f"rollout, {replicas} replicas",
                "trials",
                "done",
                "converged",
                "command",
                "failed req.: median (max, share)",
                "old unhealthy*",
                "done vs Swarm",
            ],
            rows,
        )
    )
    return {"by_tool": by_tool, "swarm_done": swarm}


def bad_table(results: list[Trial], labels: dict[str, str]) -> dict[str, float | None]:
    medians: dict[str, float | None] = {}
    rows = []
    trials_by = {n: [t for t in results if t.kind == "bad" and t.tool == n] for n in labels}
    swarm = med([t.settled_s for t in trials_by["swarm"]]) if trials_by["swarm"] else None
    for name, trials in trials_by.items():
        if not trials:
            rows.append([labels[name], 0, *["-"] * 10])
            medians[name] = None
            continue
        back = med([t.settled_s for t in trials])
        medians[name] = back
        codes = sorted({t.code for t in trials})
        rows.append(
            [
                labels[name],
                len(trials),
                secs(back),
                secs(med([t.command_s for t in trials])),
                ",".join(map(str, codes)),
                secs(med([t.started_s for t in trials])),
                secs(med([t.unhealthy_s for t in trials])),
                failed_cell(trials),
                f"{median([t.bad_served for t in trials]):g}",
                max(t.max_new for t in trials),
                sum(t.old_unhealthy for t in trials),
                ratio(back, swarm),
            ]
        )
    say(
        table(
            [
                f"bad {BAD}, {ROLLBACK_REPLICAS} replicas",
                "trials",
                f"back on {ROLLBACK_FROM}",
                "command",
                "exit",
                f"{BAD} up at",
                f"{BAD} unhealthy at",
                "failed req.: median (max, share)",
                f"served by {BAD}",
                f"max {BAD} up",
                f"{ROLLBACK_FROM} unhealthy*",
                "back vs Swarm",
            ],
            rows,
        )
    )
    return medians


def print_header(quick: bool, trials: int, sizes: list[int]) -> None:
    monitor = build_settings(load_settings(lab().compose_file.parent).rollout).monitor
    settings = json.dumps({"rps": RPS, "trials": trials, "sizes": sizes})
    budget = SwarmTool.services["gateway"].environment.get("RETRY_BUDGET", "3")
    say(f"bench_rollout: {settings}{' (quick)' if quick else ''}")
    say(
        f"load: {RPS:g} req/s open loop from 127.0.0.1 through the demo gateway in front of "
        f"each tool (it retries refused connections on other replicas for {budget} s, then "
        f"502), client timeout {CLIENT_TIMEOUT:g} s, no client retries"
    )
    say(
        f"health checks (compose.yaml, also given to Swarm's containers): "
        f"{SwarmTool.services['agent'].describe_health()}; "
        f"agentlab monitor {monitor:g}s (agentlab.yaml), Swarm update monitor 5s (its default)"
    )
    say(f"machine: {machine()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 replicas, 1 trial of each")
    parser.add_argument("--trials", type=int, help="trials per tool and size (default 3)")
    parser.add_argument("--replicas", help="comma-separated replica counts (default 3,10)")
    args = parser.parse_args(argv)
    trials = args.trials or (1 if args.quick else 3)
    sizes = [int(n) for n in (args.replicas or ("3" if args.quick else "3,10")).split(",")]
    install_sigterm()
    try:
        check_engine()
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results: list[Trial] = []
    errors: list[str] = []
    labels = {
        "agentlab": AgentlabTool.label,
        "compose": ComposeTool.label,
        "swarm": SwarmTool.label,
    }
    started = time.monotonic()
    try:
        with lab_snapshot() as ids, tempfile.TemporaryDirectory(prefix="agentlab-bench-") as tmp:
            SwarmTool.services = ServiceRun.all_from_compose()
            print_header(args.quick, trials, sizes)
            with Swarm():
                work = Path(tmp)
                for round_ in range(trials):
                    note(f"round {round_ + 1} of {trials}")
                    for replicas in sizes:
                        tools = rotate([AgentlabTool, ComposeTool, SwarmTool], round_)
                        for kind in tools:
                            run_trial(kind(ids, work), replicas, "rollout", results, errors)
                    for kind in rotate([AgentlabTool, SwarmTool], round_):
                        run_trial(kind(ids, work), ROLLBACK_REPLICAS, "bad", results, errors)
    except KeyboardInterrupt:
        print("interrupted (cleaned up)", file=sys.stderr)
        return 130
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    say(f"(ran {time.monotonic() - started:.0f} s; at the end: {machine()})")
    say()
    say("trials (times from the command's start):")
    for trial in results:
        say(f"  {describe_trial(trial)}")
    checks: list[tuple[str, str, str, str, bool]] = []
    for replicas in sizes:
        say()
        found = rollout_table(results, replicas, labels)
        ours = found["by_tool"]["agentlab"]
        if ours:
            worst = max(t.failed for t in ours)
            checks.append(
                (
                    f"agentlab failed requests, {replicas} replicas (every trial)",
                    str(worst),
                    "0",
                    "= 0",
                    worst == 0,
                )
            )
            done = med([t.done_s for t in ours])
            swarm = found["swarm_done"]
            checks.append(
                (
                    f"agentlab rollout done vs Swarm, {replicas} replicas",
                    f"{secs(done)} vs {secs(swarm)}",
                    ratio(done, swarm),
                    "<= 1.00x",
                    done is not None and swarm is not None and done <= swarm,
                )
            )
    say()
    backs = bad_table(
        results, {"agentlab": "agentlab auto-rollback", "swarm": "swarm failure-action rollback"}
    )
    say(
        "* replicas of the starting version that the watcher saw turn unhealthy during the "
        "trials (health probes timing out on a loaded machine), summed over trials"
    )
    ours_back, swarm_back = backs.get("agentlab"), backs.get("swarm")
    checks.append(
        (
            "agentlab back on old vs Swarm rollback",
            f"{secs(ours_back)} vs {secs(swarm_back)}",
            ratio(ours_back, swarm_back),
            "< 1.00x",
            ours_back is not None and swarm_back is not None and ours_back < swarm_back,
        )
    )
    swarm_codes = sorted({t.code for t in results if t.kind == "bad" and t.tool == "swarm"})
    if swarm_codes:
        say(
            f"note: `docker service update` exited {swarm_codes} after rolling back "
            "(agentlab exits 1 when it rolls back)"
        )
    say()
    say(
        table(
            ["check", "measured", "ratio", "target", "result"],
            [[c[0], c[1], c[2], c[3], verdict(c[4])] for c in checks],
        )
    )
    for error in errors:
        say(f"error: {error}")
    return 0 if all(c[4] for c in checks) and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
