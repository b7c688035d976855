"""Issue #12: what agentlab's traffic layer (HAProxy, driven at runtime) holds and adds.

On a fast replica (HAProxy answering by itself, benchmarks/echo), behind the traffic
layer of a service that publishes a fixed host port, against the same replica reached
directly (`docker run -p`) as the baseline, with real load tools (Debian's wrk and hey):

1. capacity: wrk, 2 threads, 32 keep-alive connections, at the published ports: requests
   per second through agentlab's traffic layer, through a bare HAProxy (same image, no
   meter) and directly. Target: the traffic layer holds >= 2,000 req/s.
2. added latency at 500 req/s: wrk at a steady rate (10 connections, each sending a
   request every 20 ms), on the containers' bridge addresses, in interleaved rounds against
   the same three (each first in turn); medians of the rounds' p99. Target: the traffic
   layer's p99 less the direct p99 <= 1 ms. The bare proxy splits that into the hop and
   agentlab's meter. The CPU time each container used per request (its cgroup) is what
   the proxy itself does, less inflated by a busy machine than a p99.
3. a rolling update (2 replicas, surge 1) through the proxy while hey sends 500 req/s:
   failed requests (errors and non-2xx). Target: 0.

    .venv/bin/python benchmarks/bench_proxy.py [--quick]

Exit 0 when every target is met, 1 when one is missed, 2 when it cannot run here.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from benchlib import (
    REPO,
    SetupError,
    docker,
    install_sigterm,
    machine,
    median,
    note,
    proxy_image,
    run,
    say,
    table,
    verdict,
)

from agentlab.traffic.haproxy_config import FIRST_LISTEN_PORT

ECHO = REPO / "benchmarks" / "echo"
AGENTLAB = REPO / ".venv" / "bin" / "agentlab"
COMPOSE = """services:
  echo:
    image: bench-echo:1.0.0
    pull_policy: never
    ports: ["127.0.0.1:${ECHO_PORT}:8080"]
    deploy: {replicas: 2}
"""


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


BARE_PROXY = """global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
frontend bare
    bind :8080
    default_backend replica
backend replica
    server replica {address}:8080
"""
STEADY = "function delay() return 20 end\n"  # wrk: each connection, one request per 20 ms
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int) -> float:
    """Requests per second wrk reaches (2 threads, 32 connections)."""
    out = run(["wrk", "-t2", "-c32", f"-d{seconds}s", url], timeout=seconds + 60).out
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk failed on {url}:\n{out}")
    return float(found.group(1))


def steady(url: str, seconds: int, script: Path) -> tuple[float, int]:
    """p99 (ms) of wrk at 500 req/s (10 connections, one request per 20 ms each), and
    the requests it sent."""
    out = run(["wrk", "-t1", "-c10", f"-d{seconds}s", "--latency", "-s", str(script), url],
              timeout=seconds + 60).out  # fmt: skip
    found = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    sent = re.search(r"^\s*(\d+) requests in", out, re.M)
    if found is None or sent is None or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk failed on {url}:\n{out}")
    return float(found.group(1)) * UNITS[found.group(2)], int(sent.group(1))


def cpu_seconds(container: str) -> float | None:
    """The CPU time a container has used (its cgroup, v1 or v2); None where unreadable.
    Per request, it is the proxy's own work, which the machine's noise does not inflate
    as much as it does a p99."""
    full = docker("inspect", "-f", "{{.Id}}", container).out.strip()
    cgroups = (
        (Path(f"/sys/fs/cgroup/cpuacct/docker/{full}/cpuacct.usage"), "", 1e-9),
        (Path(f"/sys/fs/cgroup/system.slice/docker-{full}.scope/cpu.stat"), "usage_usec", 1e-6),
    )
    for path, key, scale in cgroups:
        try:
            text = path.read_text()
        except OSError:
            continue
        fields = dict(line.split() for line in text.splitlines()) if key else {"": text}
        return int(fields[key]) * scale
    return None


def hey(url: str, seconds: int) -> dict[str, float]:
    """hey at 500 req/s (10 workers x 50): requests, failed (errors and non-2xx)."""
    out = run(["hey", "-z", f"{seconds}s", "-q", "50", "-c", "10", url], timeout=seconds + 60).out
    codes = {code: int(n) for code, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    errors = 0
    if "Error distribution:" in out:
        tail = out.split("Error distribution:")[1]
        errors = sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]\s+\S", tail, re.M))
    ok = sum(n for code, n in codes.items() if code.startswith("2"))
    return {"requests": sum(codes.values()) + errors, "failed": sum(codes.values()) - ok + errors}


def published(container: str) -> str:
    """The loopback URL of a container's port 8080."""
    return f"http://127.0.0.1:{docker('port', container, '8080').out.split()[0].rsplit(':', 1)[1]}/"


def bridged(container: str, port: int) -> str:
    """A container's URL on its network's bridge: past docker-proxy, whose jitter at the
    published ports is larger than what the proxy adds."""
    found = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                   container).out.split()  # fmt: skip
    return f"http://{found[0]}:{port}/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s runs and 3 rounds")
    args = parser.parse_args(argv)
    seconds, rounds = (5, 3) if args.quick else (10, 5)
    install_sigterm()
    for tool in ("wrk", "hey"):
        if shutil.which(tool) is None:
            say(f"bench_proxy: {tool} is missing (apt-get install {tool})")
            return 2
    try:
        image = proxy_image()
    except SetupError as error:
        say(f"bench_proxy: {error}")
        return 2
    say(f"bench_proxy: replica {ECHO.name} on {image}, {seconds} s per measurement")
    say(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    project = f"bench-px-{os.getpid()}"
    port = free_port()
    env = {**os.environ, "ECHO_PORT": str(port), "AGENTLAB_PROXY_IMAGE": image}
    direct, bare = f"{project}-direct", f"{project}-bare"
    lab = [str(AGENTLAB), "-f", str(work / "compose.yaml"), "-p", project]
    try:
        for version in ("1.0.0", "1.1.0"):
            docker("build", "-q", "--build-arg", f"PROXY_IMAGE={image}", "--build-arg",
                   f"VERSION={version}", "-t", f"bench-echo:{version}", str(ECHO))  # fmt: skip
        (work / "compose.yaml").write_text(COMPOSE)
        (work / "steady.lua").write_text(STEADY)
        run([*lab, "up", "--traffic-layer", "echo"], env=env, timeout=300)
        docker("run", "-d", "--name", direct, "-p", "127.0.0.1::8080", "bench-echo:1.0.0")
        address = docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", direct).out.strip()
        (work / "bare.cfg").write_text(BARE_PROXY.format(address=address))
        mount = f"{work / 'bare.cfg'}:/bare.cfg:ro"
        docker("run", "-d", "--name", bare, "-p", "127.0.0.1::8080", "-v", mount, image,
               "haproxy", "-db", "-f", "/bare.cfg")  # fmt: skip
        urls = {"agentlab": f"http://127.0.0.1:{port}/", "bare": published(bare),
                "direct": published(direct)}  # fmt: skip
        note("capacity (wrk)")
        capacity = {name: wrk(url, seconds) for name, url in urls.items()}
        note(f"latency at 500 req/s (wrk, {rounds} interleaved rounds, bridge addresses)")
        bridges = {"agentlab": bridged(f"{project}-agentlab-proxy-1", FIRST_LISTEN_PORT),
                   "bare": bridged(bare, 8080), "direct": bridged(direct, 8080)}  # fmt: skip
        containers = {"agentlab": f"{project}-agentlab-proxy-1", "bare": bare, "direct": direct}
        p99s: dict[str, list[float]] = {name: [] for name in urls}
        cpus: dict[str, list[float]] = {name: [] for name in urls}
        order = list(bridges)
        for _ in range(rounds):
            for name in order:
                before = cpu_seconds(containers[name])
                latency, sent = steady(bridges[name], seconds, work / "steady.lua")
                after = cpu_seconds(containers[name])
                p99s[name].append(latency)
                if before is not None and after is not None:
                    cpus[name].append((after - before) / sent * 1e6)
            order = order[1:] + order[:1]  # each target first in turn
        p99 = {name: median(values) for name, values in p99s.items()}
        cpu = {name: median(values) for name, values in cpus.items()}
        note("rolling update at 500 req/s")
        result: dict[str, float] = {}
        load = threading.Thread(target=lambda: result.update(hey(urls["agentlab"], seconds * 2)))
        load.start()
        rolled = run([*lab, "rollout", "echo", "--to", "1.1.0", "--monitor", "1s"], env=env,
                     check=False, timeout=300)  # fmt: skip
        load.join()
    finally:
        docker("rm", "-f", direct, bare, check=False)
        run([*lab, "down"], env=env, check=False)
        docker("rmi", "bench-echo:1.0.0", "bench-echo:1.1.0", check=False)
        shutil.rmtree(work, ignore_errors=True)
    say()
    say(table(["measure", "agentlab's proxy", "bare HAProxy", "direct (baseline)"], [
        ["requests/s (wrk, 32 connections)", *(f"{capacity[n]:.0f}" for n in urls)],
        ["p99 at 500 req/s (median of rounds)", *(f"{p99[n]:.2f} ms" for n in urls)],
        ["p99 of each round", *(" ".join(f"{v:.1f}" for v in p99s[n]) for n in urls)],
        ["CPU per request at 500 req/s (median)", *(f"{cpu[n]:.0f} us" for n in urls)],
    ]))  # fmt: skip
    added = p99["agentlab"] - p99["direct"]
    paired = median(a - d for a, d in zip(p99s["agentlab"], p99s["direct"], strict=True))
    say(f"of which the hop (bare - direct): {p99['bare'] - p99['direct']:+.2f} ms, "
        f"agentlab's meter (agentlab - bare): {p99['agentlab'] - p99['bare']:+.2f} ms; "
        f"median of the rounds' own differences (agentlab - direct): {paired:+.2f} ms")  # fmt: skip
    say(f"machine at the end: {machine()}")
    checks = [
        ("proxy holds >= 2,000 req/s", f"{capacity['agentlab']:.0f} req/s",
         capacity["agentlab"] >= 2000),
        ("added p99 <= 1 ms at 500 req/s", f"{added:+.2f} ms", added <= 1.0),
        ("failed during a rolling update at 500 req/s",
         f"{result.get('failed', -1):.0f} of {result.get('requests', 0):.0f} (exit {rolled.code})",
         rolled.code == 0 and result.get("failed") == 0),
    ]  # fmt: skip
    say()
    say(table(["check", "measured", "result"], [[n, m, verdict(ok)] for n, m, ok in checks]))
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
