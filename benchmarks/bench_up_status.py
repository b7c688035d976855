"""Issue #2: `agentlab up` against raw `docker compose up --wait`, and `agentlab status`.

1. From nothing to healthy: `agentlab up --version 1.3.0` against
   `docker compose -f agentlab/demo/compose.yaml -f <pins> -p NAME up -d --wait` where <pins> pins
   the same images agentlab pins (agent 1.3.0, collector 1.0.0, gateway 1.0.0, pull_policy
   never). The two alternate, each on a fresh project name, `down` (untimed) between runs.
   Target: median agentlab / median compose <= 1.15.
2. `agentlab status` (the CLI in a subprocess, wall time) on a project of 12 containers
   (agent scaled to 10), alternating with the baseline `docker compose ps -a` of the same
   project. Target: median under 0.5 s.

    .venv/bin/python benchmarks/bench_up_status.py [--quick] [--runs N] [--status-runs N]

Both run on a snapshot of agentlab/demo/ (compose.yaml and agentlab.yaml, images under a private
tag at the ids the agentlab-demo tags have when the run starts; see benchlib.lab_snapshot).

Exit 0 when both targets are met, 1 when one is missed, 2 when it cannot run here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchlib import (
    SetupError,
    agentlab,
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
    say,
    secs,
    table,
    verdict,
)

UP_TARGET = 1.15  # agentlab up within 1.15x of raw compose
STATUS_TARGET = 0.5  # seconds
VERSION = "1.3.0"
STATUS_REPLICAS = 10


def all_healthy(project: str, expected: int) -> bool:
    ids = docker(
        "ps", "-q", "--filter", f"label=com.docker.compose.project={project}", check=False
    ).out.split()
    if len(ids) != expected:
        return False
    health = docker("inspect", "--format", "{{.State.Health.Status}}", *ids, check=False).out
    return health.split() == ["healthy"] * expected


def bench_up(runs: int, warmup: bool, pins: Path, created: list[str]) -> tuple[float, float]:
    """Alternate agentlab up and raw compose up --wait; return the two medians."""
    times: dict[str, list[float]] = {"agentlab": [], "compose": []}

    def one(tool: str, timed: bool) -> None:
        project = project_name(f"bench-up-{tool[0]}")
        created.append(project)
        try:
            if tool == "agentlab":
                done = agentlab("up", "--version", VERSION, project=project)
            else:
                done = compose(
                    "up", "-d", "--wait", files=(lab().compose_file, pins), project=project
                )
            if not all_healthy(project, 5):
                raise RuntimeError(f"{tool} up returned but {project} is not 5/5 healthy")
            if timed:
                times[tool].append(done.seconds)
            note(f"{tool:8} up {done.seconds:.2f} s{'' if timed else ' (warm-up)'}")
        finally:
            compose_down(project)
            created.remove(project)

    if warmup:
        one("agentlab", False)
        one("compose", False)
    for i in range(runs):
        order = ("agentlab", "compose") if i % 2 == 0 else ("compose", "agentlab")
        for tool in order:
            one(tool, True)
    rows = [[tool, runs, secs(median(t)), secs(min(t)), secs(max(t))] for tool, t in times.items()]
    say(table(["up (nothing -> healthy)", "runs", "median", "min", "max"], rows))
    return median(times["agentlab"]), median(times["compose"])


def bench_status(runs: int, created: list[str]) -> tuple[float, float, int]:
    """agentlab status vs docker compose ps on a 12-container project; medians and count."""
    project = project_name("bench-status")
    created.append(project)
    try:
        agentlab("up", "--version", VERSION, project=project)
        agentlab("scale", "agent", str(STATUS_REPLICAS), project=project)
        containers = len(
            docker(
                "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"
            ).out.split()
        )
        if containers < 10:
            raise RuntimeError(f"expected at least 10 containers, found {containers}")
        times: dict[str, list[float]] = {"agentlab status": [], "docker compose ps -a": []}
        agentlab("status", project=project)  # warm-up (page cache, bytecode)
        compose("ps", "-a", project=project)
        for _ in range(runs):
            done = agentlab("status", project=project)
            if done.out.count(f"{project}-agent-") < STATUS_REPLICAS:
                raise RuntimeError(f"agentlab status did not list every replica:\n{done.out}")
            times["agentlab status"].append(done.seconds)
            times["docker compose ps -a"].append(compose("ps", "-a", project=project).seconds)
        rows = [
            [name, runs, secs(median(t)), secs(min(t)), secs(max(t))] for name, t in times.items()
        ]
        say(table([f"status, {containers} containers", "runs", "median", "min", "max"], rows))
        return median(times["agentlab status"]), median(times["docker compose ps -a"]), containers
    finally:
        compose_down(project)
        created.remove(project)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 up runs each, 5 status runs")
    parser.add_argument("--runs", type=int, help="up runs per tool (default 5, quick 2)")
    parser.add_argument("--status-runs", type=int, help="status runs (default 10, quick 5)")
    args = parser.parse_args(argv)
    runs = args.runs or (2 if args.quick else 5)
    status_runs = args.status_runs or (5 if args.quick else 10)
    install_sigterm()
    created: list[str] = []
    try:
        check_engine()
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    say(
        f"bench_up_status: agent {VERSION}, {runs} up runs per tool (alternating), "
        f"{status_runs} status runs{' (quick)' if args.quick else ''}"
    )
    say(f"machine: {machine()}")
    try:
        with lab_snapshot(), tempfile.TemporaryDirectory(prefix="agentlab-bench-") as tmp:
            pins = pins_override(Path(tmp) / "pins.yaml", VERSION)
            say()
            up_agentlab, up_compose = bench_up(runs, not args.quick, pins, created)
            say()
            status, baseline, containers = bench_status(status_runs, created)
    except KeyboardInterrupt:
        print("interrupted (cleaned up)", file=sys.stderr)
        return 130
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        for project in list(created):
            compose_down(project)
    say()
    say(f"at the end: {machine()}")
    up_ratio = up_agentlab / up_compose
    up_ok = up_ratio <= UP_TARGET
    status_ok = status < STATUS_TARGET
    say()
    say(
        table(
            ["check", "measured", "baseline (same run)", "ratio", "target", "result"],
            [
                [
                    "agentlab up / compose up --wait",
                    secs(up_agentlab),
                    secs(up_compose),
                    f"{up_ratio:.2f}x",
                    f"<= {UP_TARGET:.2f}x",
                    verdict(up_ok),
                ],
                [
                    f"agentlab status, {containers} containers",
                    secs(status),
                    f"{secs(baseline)} (compose ps)",
                    f"{status / STATUS_TARGET:.2f}x of target; {status / baseline:.2f}x compose ps",
                    f"< {STATUS_TARGET:.2f} s",
                    verdict(status_ok),
                ],
            ],
        )
    )
    return 0 if up_ok and status_ok else 1


if __name__ == "__main__":
    sys.exit(main())
