"""Issue #12: clients on the project's own network, no proxy: agentlab against Swarm (dnsrr)
and Compose recreate, at 3 and 10 replicas, and an automatic rollback against Swarm's.

Same images for every tool: tests/projects/webapp/web, with a 1 s start-up
(WEB_STARTUP_DELAY=1); 1.0.0 -> 1.1.0, and 1.2.0 whose /health answers 503 for the bad
image. Same health check (bash's /dev/tcp GET /health every 1 s, timeout 1 s, 3 retries,
start period 2 s), same stop
grace (5 s). Same load: a client container on the deployment's network
(tests/support/netclient.py) sends 50 req/s to the service's name, resolving it and opening
a new connection for every request, never retrying. A request fails on any error or a 5xx.

Tools:
  agentlab  `agentlab rollout web --to V` (its defaults: surge 1, unavailable 0, replicas
            answer the name only while ready); bad image: the same, exit 1 after its
            automatic rollback
  swarm     `docker service update --update-order start-first --update-parallelism 1`, a
            dnsrr service on an attachable overlay network; bad image: with
            `--update-failure-action rollback` (exit 0)
  compose   change the image in an override, `docker compose up -d --no-build` (recreate)

Times run from the command's start. `converged`: a watcher (`docker ps` + `inspect` every
0.25 s, the same for every tool) sees exactly N running replicas, all healthy at the target
image, and it stays so. `back`: N healthy replicas of the old image again, no bad one
running, after a bad one was seen. Trials are interleaved in rounds, each from a fresh
set-up; one deployment exists at a time.

    .venv/bin/python benchmarks/bench_names.py [--quick] [--trials N] [--replicas 3,10]

Targets: 0 failed requests in agentlab's rollouts and rollback; agentlab converged <= 0.6x
Swarm's (median, each size); back on the old version <= 0.5x Swarm's, exit 1. Exit 0 when
all are met, 1 when one is missed (or a run broke), 2 when it cannot run here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import (
    REPO,
    WEB,
    Done,
    SetupError,
    Watcher,
    agentlab,
    all_healthy_at,
    any_at,
    base_image,
    build_web,
    check_engine,
    compose,
    compose_down,
    docker,
    install_sigterm,
    machine,
    median,
    note,
    project_name,
    say,
    secs,
    table,
    verdict,
)
from benchswarm import SETTLE_TIMEOUT, Swarm, wait_until

CLIENT = REPO / "tests" / "support" / "netclient.py"
RPS = 50
WARMUP = 1.0  # s of load before the command
TAIL = 0.5  # s of load after the state settled
COMMAND_TIMEOUT = 300.0
GOOD = ("1.0.0", "1.1.0")
BAD = ("1.0.0", "1.2.0")
# bash's /dev/tcp, not a Python start per probe: 20 replicas probed every second would
# otherwise load 2 cores enough to time probes out (both tools' replicas turned unhealthy).
PROBE = ('exec 3<>/dev/tcp/127.0.0.1/8000 && printf "GET /health HTTP/1.0\\r\\n\\r\\n" >&3'
         ' && head -1 <&3 | grep -q " 200 "')  # fmt: skip
HEALTH = ["CMD", "bash", "-c", PROBE]
COMPOSE = """services:
  web:
    image: {repo}:{version}
    pull_policy: never
    build: {{context: {context}}}
    environment: {{WEB_STARTUP_DELAY: "1"}}
    deploy: {{replicas: {replicas}}}
    healthcheck:
      test: {health}
      interval: 1s
      timeout: 1s
      retries: 3
      start_period: 2s
    stop_grace_period: 5s
"""


@dataclass
class Trial:
    tool: str
    replicas: int
    kind: str  # rollout | bad
    command_s: float
    code: int
    settled_s: float | None  # converged (rollout) or back on the old version (bad)
    failed: int
    sent: int
    failures: dict[str, int] = field(default_factory=dict)


class Deployment:
    """One tool's deployment of `web`: set up, a client on its network, an update."""

    name = ""
    prefix = ""

    def __init__(self, repo: str, ids: dict[str, str], work: Path) -> None:
        self.repo, self.ids, self.work = repo, ids, work
        self.client = ""
        self.target = ("", "")  # the client's network, and the name it sends to

    def setup(self, replicas: int, version: str) -> None:
        raise NotImplementedError

    def labels(self) -> list[str]:
        raise NotImplementedError

    def update(self, version: str, bad: bool) -> Done:
        raise NotImplementedError

    def teardown(self) -> None:
        raise NotImplementedError

    def start_client(self) -> None:
        """The client on the deployment's network, sending to the service's name."""
        network, name = self.target
        self.client = f"{self.prefix}-client"
        docker("run", "-d", "--pull", "never", "--name", self.client, "--network", network,
               "-v", f"{CLIENT}:/netclient.py:ro", self.ids["base"], "python3", "/netclient.py",
               name, "8000", str(RPS), "3600", "/version")  # fmt: skip

    def stop_client(self) -> dict[str, dict[str, int]]:
        """Stop the client; what it counted: {"ok": {version: n}, "failed": {reason: n}}."""
        docker("stop", "-t", "30", self.client, timeout=60)
        out = docker("logs", self.client).out.strip().splitlines()
        docker("rm", "-f", self.client, check=False)
        if not out:  # the client died (a full engine, a killed container): say so
            note(f"{self.client} printed no count")
            return {"ok": {}, "failed": {"client printed no count": 1}}
        return dict(json.loads(out[-1]))


class ComposeDeployment(Deployment):
    """A Compose project from the benchmark's compose file."""

    def setup(self, replicas: int, version: str) -> None:
        self.prefix = project_name(f"bench-nm-{self.name[0]}")
        self.file = self.work / f"{self.prefix}.yaml"
        self.write(replicas, version)
        self.start(version)
        self.target = (f"{self.prefix}_default", "web")

    def write(self, replicas: int, version: str) -> None:
        text = COMPOSE.format(repo=self.repo, version=version, context=WEB, replicas=replicas,
                              health=json.dumps(HEALTH))  # fmt: skip
        self.file.write_text(text)
        self.replicas = replicas

    def start(self, version: str) -> None:
        raise NotImplementedError

    def labels(self) -> list[str]:
        return [f"com.docker.compose.project={self.prefix}", "com.docker.compose.service=web"]

    def teardown(self) -> None:
        if self.prefix:
            docker("rm", "-f", self.client, check=False)
            # its own file: the lab's (benchlib's default) names other networks, and this
            # project's would be left behind until the engine runs out of address pools
            compose("down", "-v", "--remove-orphans", "-t", "2", files=(self.file,),
                    project=self.prefix, check=False)  # fmt: skip
            compose_down(self.prefix)  # agentlab's state for it


class AgentlabDeployment(ComposeDeployment):
    name = "agentlab"

    def start(self, version: str) -> None:
        agentlab("up", "--version", version, files=(self.file,), project=self.prefix)

    def update(self, version: str, bad: bool) -> Done:
        return agentlab("rollout", "web", "--to", version, files=(self.file,),
                        project=self.prefix, check=False, timeout=COMMAND_TIMEOUT)  # fmt: skip


class RecreateDeployment(ComposeDeployment):
    name = "compose"

    def start(self, version: str) -> None:
        compose("up", "-d", "--wait", "--no-build", files=(self.file,), project=self.prefix)

    def update(self, version: str, bad: bool) -> Done:
        self.write(self.replicas, version)
        return compose("up", "-d", "--no-build", files=(self.file,), project=self.prefix,
                       check=False, timeout=COMMAND_TIMEOUT)  # fmt: skip


class SwarmDeployment(Deployment):
    name = "swarm"

    def setup(self, replicas: int, version: str) -> None:
        self.prefix = project_name("bench-nm-s")
        self.network, self.service = f"{self.prefix}-net", f"{self.prefix}-web"
        docker("network", "create", "--driver", "overlay", "--attachable", self.network)
        docker("service", "create", "--detach", "--name", self.service, "--network",
               self.network, "--endpoint-mode", "dnsrr", "--replicas", str(replicas),
               "--no-resolve-image", "--env", "WEB_STARTUP_DELAY=1",
               "--health-cmd", f"bash -c '{PROBE}'",
               "--health-interval", "1s", "--health-timeout", "1s", "--health-retries", "3",
               "--health-start-period", "2s", "--stop-grace-period", "5s",
               self.ids[version])  # fmt: skip
        self.target = (self.network, self.service)

    def labels(self) -> list[str]:
        return [f"com.docker.swarm.service.name={self.service}"]

    def update(self, version: str, bad: bool) -> Done:
        extra = ["--update-failure-action", "rollback"] if bad else []
        return docker("service", "update", "--detach=false", "--update-order", "start-first",
                      "--update-parallelism", "1", *extra, "--image", self.ids[version],
                      "--no-resolve-image", self.service, check=False,
                      timeout=COMMAND_TIMEOUT)  # fmt: skip

    def teardown(self) -> None:
        if not self.prefix:
            return
        docker("rm", "-f", self.client, check=False)
        docker("service", "rm", self.service, check=False)
        tasks = ["ps", "-aq", "--filter", f"label=com.docker.swarm.service.name={self.service}"]
        wait_until(lambda: not docker(*tasks).out.split(), "the swarm tasks to go", timeout=60,
                   fail=False)  # fmt: skip
        wait_until(lambda: docker("network", "rm", self.network, check=False).code == 0,
                   f"network {self.network} to go", timeout=30, fail=False)  # fmt: skip


def one_trial(tool: Deployment, replicas: int, kind: str) -> Trial:
    """Fresh set-up, the client on, the update, watch until settled, the client off."""
    start, target = GOOD if kind == "rollout" else BAD
    old, new = tool.ids[start], tool.ids[target]
    settle_at = new if kind == "rollout" else old
    note(f"{tool.name}: {replicas} replicas at {start}, then {kind} to {target}")
    tool.setup(replicas, start)
    watcher = Watcher(tool.labels()).start()
    try:
        if not watcher.wait_for(all_healthy_at(old, replicas), SETTLE_TIMEOUT):
            raise RuntimeError(f"{replicas} healthy {start} replicas never seen")
        tool.start_client()
        time.sleep(WARMUP)
        t0 = time.monotonic()
        done = tool.update(target, kind == "bad")
        settled = watcher.wait_for(all_healthy_at(settle_at, replicas), SETTLE_TIMEOUT)
        time.sleep(TAIL)
        counts = tool.stop_client()
    finally:
        watcher.stop()
    after = t0
    if kind == "bad":
        seen_bad = watcher.first(any_at(new), after=t0)
        after = seen_bad if seen_bad is not None else float("inf")
    since = watcher.settled_since(all_healthy_at(settle_at, replicas), after=after)
    failures = counts["failed"]
    trial = Trial(tool.name, replicas, kind, done.seconds, done.code,
                  None if since is None or not settled else since - t0, sum(failures.values()),
                  sum(counts["ok"].values()) + sum(failures.values()), failures)  # fmt: skip
    note(f"  exit {trial.code}, command {trial.command_s:.2f} s, settled {secs(trial.settled_s)},"
         f" failed {trial.failed} of {trial.sent} {failures or ''}")  # fmt: skip
    if done.code != (1 if kind == "bad" and tool.name == "agentlab" else 0):
        note(f"{tool.name} output:\n{done.tail()}")
    return trial


def build_images(repo: str) -> dict[str, str]:
    """web 1.0.0, 1.1.0 and the never-healthy 1.2.0 under a private repository, from the
    local base image (never a pull); their image ids by version, and the base's."""
    base = base_image()
    ids = {"base": base}
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        healthy = "false" if version == BAD[1] else "true"
        build_web(f"{repo}:{version}", version, f"HEALTHY={healthy}")
        ids[version] = docker("image", "inspect", "-f", "{{.Id}}", f"{repo}:{version}").out.strip()
    return ids


def med(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present and len(present) == len(values) else None


def report(trials: list[Trial], sizes: list[int]) -> list[tuple[str, str, bool]]:
    """The tables; the checks (name, measured, met)."""

    def of(tool: str, replicas: int, kind: str) -> list[Trial]:
        return [t for t in trials if (t.tool, t.replicas, t.kind) == (tool, replicas, kind)]

    rows, checks = [], []
    plan = [("rollout", n, ("agentlab", "swarm", "compose")) for n in sizes]
    for kind, replicas, tools in [*plan, ("bad", sizes[0], ("agentlab", "swarm"))]:
        base = med([t.settled_s for t in of("swarm", replicas, kind)])
        for tool in tools:
            found = of(tool, replicas, kind)
            time_s = med([t.settled_s for t in found])
            rows.append([f"{kind} x{replicas}", tool, secs(time_s),
                         " ".join(str(t.code) for t in found),
                         f"{sum(t.failed for t in found)} of {sum(t.sent for t in found)}",
                         f"{time_s / base:.2f}x" if time_s and base else "-"])  # fmt: skip
        ours = of("agentlab", replicas, kind)
        ours_s, limit = med([t.settled_s for t in ours]), 0.6 if kind == "rollout" else 0.5
        what = "converged" if kind == "rollout" else "back on the old version"
        checks.append((f"agentlab {kind} x{replicas}: 0 failed requests",
                       str(sum(t.failed for t in ours)),
                       bool(ours) and all(t.failed == 0 for t in ours)))  # fmt: skip
        checks.append((f"agentlab {kind} x{replicas}: {what} <= {limit}x swarm",
                       f"{secs(ours_s)} vs {secs(base)}",
                       bool(ours_s and base and ours_s <= limit * base)))  # fmt: skip
        if kind == "bad":
            checks.append(("agentlab rollback exits 1", " ".join(str(t.code) for t in ours),
                           bool(ours) and all(t.code == 1 for t in ours)))  # fmt: skip
    say(table(["trial", "tool", "converged / back (median)", "exit", "failed", "vs swarm"], rows))
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 3 replicas only")
    parser.add_argument("--trials", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--replicas", default="3,10", help="sizes (default 3,10)")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.trials
    sizes = [3] if args.quick else [int(n) for n in args.replicas.split(",")]
    install_sigterm()
    try:
        check_engine()
    except SetupError as error:
        say(f"bench_names: {error}")
        return 2
    say(f"bench_names: {rounds} round(s), replicas {sizes}, {RPS} req/s in-network")
    say(f"machine: {machine()}")
    repo = f"{project_name('bench-nm')}/web"
    trials: list[Trial] = []
    errors: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="bench-names-"))
    plan = [*(("rollout", n) for n in sizes), ("bad", sizes[0])]
    try:
        ids = build_images(repo)
        with Swarm():
            for round_no in range(rounds):
                for kind, replicas in plan:
                    kinds = (AgentlabDeployment, SwarmDeployment, RecreateDeployment)
                    tools = kinds if kind == "rollout" else kinds[:2]
                    turn = round_no % len(tools)  # who goes first rotates
                    for cls in tools[turn:] + tools[:turn]:
                        tool = cls(repo, ids, work)
                        try:
                            trials.append(one_trial(tool, replicas, kind))
                        except RuntimeError as broke:
                            errors.append(f"{tool.name} {kind} x{replicas}: {broke}")
                            note(f"error: {broke}")
                        finally:
                            tool.teardown()
    except SetupError as error:
        say(f"bench_names: {error}")
        return 2
    finally:
        docker("rmi", *(f"{repo}:{v}" for v in ("1.0.0", "1.1.0", "1.2.0")), check=False)
        shutil.rmtree(work, ignore_errors=True)
    say()
    checks = report(trials, sizes)
    say()
    say(table(["check", "measured", "result"], [[n, m, verdict(ok)] for n, m, ok in checks]))
    for line in errors:
        say(f"error: {line}")
    return 0 if all(ok for *_, ok in checks) and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
