"""Issue #13: how fast a bad canary is caught, how much traffic it gets, how fast a weight
switches.

A compose project like tests/projects/webapp (3 replicas of web with a healthcheck) behind
agentlab's traffic layer, 200 req/s from the host through the proxy (one new connection
per request). web 1.3.0 answers 1 request in 20 with a 500.

1. abort time: `rollout web --to 1.3.0 --strategy canary --steps 10,50,100 --gate
   "error_rate < 1%" --analysis-interval 1s`. From the bad version's first 500 (the
   proxy's meter, read every 20 ms) to every request on stable (no 1.3.0 server with a
   weight, from the runtime API, read every 20 ms). Target: <= 2 intervals + 1 s.
2. bad share: the bad version's requests over all requests while the rollout command ran
   (the meter before and after). Target: <= the weight + 1 point (11 %).
3. weight switch: with a canary paused at 10 %, agentlab's split (what a step does: read
   the backend, weigh each server) from its call until `show servers state` reports the
   new weights, 10 -> 50 -> 10 ... Baseline: one runtime API round trip, same run.
   Target: <= 100 ms (median).

    .venv/bin/python benchmarks/bench_canary.py [--quick]

Exit 0 when every target is met, 1 when one is missed, 2 when it cannot run here.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import (
    AGENTLAB,
    WEB,
    SetupError,
    build_web,
    check_engine,
    docker,
    install_sigterm,
    machine,
    median,
    note,
    project_name,
    proxy_image,
    say,
    table,
    verdict,
)

from agentlab.lab.layer_gate import LayerGate
from agentlab.traffic.haproxy import HAProxyRouter
from agentlab.traffic.haproxy_config import FIRST_LISTEN_PORT, METRICS_PORT, RUNTIME_PORT, Frontend
from agentlab.traffic.load import TrafficGenerator
from agentlab.traffic.metrics import VersionFigures, of_backends, read

RPS = 200
INTERVAL = 1.0
WEIGHT = 10
BACKEND = "agentlab_web_8000"
POLL = 0.02
PROBE = "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health', timeout=1)"
COMPOSE = """services:
  web:
    image: {repo}:1.0.0
    pull_policy: never
    build: {{context: {context}}}
    ports: ["127.0.0.1::8000"]
    deploy: {{replicas: 3}}
    healthcheck:
      test: ["CMD", "python3", "-c", "{probe}"]
      interval: 1s
      timeout: 3s
      retries: 3
    stop_grace_period: 5s
"""


class Lab:
    """The benchmark's project: files, the CLI, the proxy's ports."""

    def __init__(self, work: Path, repo: str, proxy: str) -> None:
        self.project = project_name("bench-cn")
        self.file = work / "compose.yaml"
        self.file.write_text(COMPOSE.format(repo=repo, context=WEB, probe=PROBE))
        self.env = {**os.environ, "AGENTLAB_PROXY_IMAGE": proxy}

    def command(self, *args: str) -> list[str]:
        return [str(AGENTLAB), "-f", str(self.file), "-p", self.project, *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), capture_output=True, text=True,
                              env=self.env, timeout=300, check=False)  # fmt: skip

    def port(self, inside: int) -> int:
        out = docker("compose", "-p", self.project, "port", "agentlab-proxy", str(inside)).out
        return int(out.strip().rsplit(":", 1)[1])

    def figures(self) -> dict[str, VersionFigures]:
        found = read(f"http://127.0.0.1:{self.port(METRICS_PORT)}/metrics/versions")
        return of_backends(found, [BACKEND, f"{BACKEND}_canary"])

    def router(self) -> HAProxyRouter:
        return HAProxyRouter("127.0.0.1", self.port(RUNTIME_PORT))


class Rollout:
    """`agentlab rollout ... --json` in the background, its events as they come."""

    def __init__(self, lab: Lab, *args: str) -> None:
        self.process = subprocess.Popen(lab.command("rollout", *args, "--json"), text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        env=lab.env)  # fmt: skip
        self.events: queue.Queue[dict[str, object] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))
        self.events.put(None)

    def until(self, kind: str, timeout: float = 180.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            event = self.events.get(timeout=left)
            if event is None:
                break
            if event["event"] == kind:
                return event
        raise SetupError(f"the rollout never said {kind}")

    def wait(self) -> int:
        return self.process.wait(300)


def bad_canary(lab: Lab) -> tuple[float, float]:
    """(seconds from the first 500 to all traffic on stable, the bad share in %)."""
    router = lab.router()
    seen: dict[str, float] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            now = time.monotonic()
            if "error" not in seen and lab.figures().get("1.3.0", VersionFigures()).errors:
                seen["error"] = now
            weighted = [r for r in router.routes(BACKEND) if r.version == "1.3.0" and r.weight]
            if "error" in seen and not weighted and "stable" not in seen:
                seen["stable"] = now
            time.sleep(POLL)

    before = lab.figures()
    with TrafficGenerator(f"http://127.0.0.1:{lab.port(FIRST_LISTEN_PORT)}/version", RPS):
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        rollout = Rollout(lab, "web", "--to", "1.3.0", "--strategy", "canary", "--steps",
                          "10,50,100", "--gate", "error_rate < 1%", "--analysis-interval",
                          f"{INTERVAL:g}s", "--analysis-count", "5",
                          "--min-requests", "5")  # fmt: skip
        code = rollout.wait()
        after = lab.figures()
        stop.set()
        watcher.join()
    if code != 1 or "error" not in seen or "stable" not in seen:
        raise SetupError(f"the bad canary ended {code}, saw {sorted(seen)}")
    served = {v: f.requests - before.get(v, VersionFigures()).requests for v, f in after.items()}
    share = 100 * served.get("1.3.0", 0) / max(1, sum(served.values()))
    return seen["stable"] - seen["error"], share


SWITCH_LIMIT = 10.0  # s a weight switch may take before the run is called broken


def weight_switches(lab: Lab, count: int) -> tuple[list[float], list[float]]:
    """(split-to-applied seconds, runtime API round trips) with a canary paused at 10 %."""
    rollout = Rollout(lab, "web", "--to", "1.1.0", "--strategy", "canary", "--steps",
                      "10,pause,100")  # fmt: skip
    rollout.until("weight_set")
    router = lab.router()
    gate = LayerGate(router, [Frontend("web", 8000, FIRST_LISTEN_PORT)], set())
    switches, trips = [], []
    for n in range(count):
        percent = 50 if n % 2 == 0 else 10
        start = time.monotonic()
        gate.split("1.1.0", percent)
        while True:
            routes = router.routes(BACKEND)
            share = sum(r.weight for r in routes if r.version == "1.1.0") / max(
                1, sum(r.weight for r in routes)
            )
            if abs(100 * share - percent) < 5:
                break
            if time.monotonic() - start > SWITCH_LIMIT:
                raise SetupError(f"the proxy never showed {percent} % on 1.1.0 ({share:.0%})")
        switches.append(time.monotonic() - start)
        start = time.monotonic()
        router.command("show servers state")
        trips.append(time.monotonic() - start)
    lab.run("abort", "web")
    rollout.wait()
    return switches, trips


def build(repo: str) -> None:
    for version, extra in (("1.0.0", []), ("1.1.0", []), ("1.3.0", ["ERROR_EVERY=20"])):
        build_web(f"{repo}:{version}", version, *extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 bad canary, 10 switches")
    args = parser.parse_args(argv)
    trials, switches_wanted = (1, 10) if args.quick else (3, 30)
    install_sigterm()
    try:
        check_engine()
        image = proxy_image()
    except SetupError as error:
        say(f"bench_canary: {error}")
        return 2
    say(f"bench_canary: webapp's web x3 behind {image}, {RPS} req/s, analysis every "
        f"{INTERVAL:g}s; {trials} bad canaries")  # fmt: skip
    say(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="bench-canary-"))
    repo = f"bench-canary-{os.getpid()}/web"
    aborts, shares = [], []
    try:
        build(repo)
        for n in range(trials):
            lab = Lab(work, repo, image)
            try:
                note(f"bad canary {n + 1}/{trials}")
                done = lab.run("up", "--traffic-layer", "web")
                if done.returncode != 0:
                    raise SetupError(done.stderr.strip())
                taken, share = bad_canary(lab)
                aborts.append(taken)
                shares.append(share)
                if n == 0:
                    note("weight switches")
                    switches, trips = weight_switches(lab, switches_wanted)
            finally:
                lab.run("down")
    except SetupError as error:
        say(f"bench_canary: {error}")
        return 1
    finally:
        docker("rmi", *(f"{repo}:{v}" for v in ("1.0.0", "1.1.0", "1.3.0")), check=False)
        shutil.rmtree(work, ignore_errors=True)
    abort, share = median(aborts), max(shares)
    switch, trip = median(switches), median(trips)
    checks = [
        ("bad canary: first 500 to all on stable", f"{abort:.2f} s (median)",
         f"<= {2 * INTERVAL + 1:g} s", abort <= 2 * INTERVAL + 1),
        ("bad version's share of requests", f"{share:.1f} % (worst)", f"<= {WEIGHT + 1} %",
         share <= WEIGHT + 1),
        ("weight switch (split to applied)", f"{switch * 1000:.1f} ms (median)",
         "<= 100 ms", switch <= 0.1),
    ]  # fmt: skip
    say()
    say(
        table(
            ["measure", "measured", "target", ""],
            [[name, value, target, verdict(ok)] for name, value, target, ok in checks],
        )
    )
    say(f"baseline: one runtime API round trip {trip * 1000:.1f} ms (median); the switch is "
        f"{switch / trip:.1f}x it; aborts {', '.join(f'{a:.2f}' for a in aborts)} s")  # fmt: skip
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
