"""Issue #14: `agentlab drift` on 3 environments x 5 services x 3 replicas.

A project of 5 services (3 replicas each, one local image, `sleep infinity`) runs as the
environments dev, staging and prod (`agentlab -e ENV up`): 45 containers. Timed, each
median of N trials:
1. drift of all three environments in one process (`Lab.drift()` per environment): one
   container list and inspect per project, one image look-up per pinned tag, and the
   other environments' container lists (each environment is compared with the two
   others; no lock, no registry here). Target <= 0.5 s.
2. `agentlab -e ENV drift` as a user runs it (a subprocess per environment, wall time).
3. Baselines in the same run: one `docker inspect` of an environment's 15 containers, and
   the per-container way (`docker inspect` once per container: 45 subprocesses).

    .venv/bin/python benchmarks/bench_drift.py [--trials N]

Exit 0 when the target is met, 1 when it is missed, 2 when it cannot run here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import (
    SetupError,
    agentlab,
    base_image,
    check_engine,
    compose,
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

from agentlab.lab.facade import Lab
from agentlab.project.location import load_project

TARGET = 0.5  # seconds for the three environments
ENVIRONMENTS = ("dev", "staging", "prod")
SERVICES = 5
REPLICAS = 3
IMAGE = "agentlab-bench/drift:1.0.0"


def write_project(directory: Path) -> Path:
    """A compose file of SERVICES idle services, REPLICAS each, on IMAGE."""
    lines = ["services:"]
    for number in range(1, SERVICES + 1):
        lines += [
            f"  s{number}:",
            f"    image: {IMAGE}",
            "    pull_policy: never",
            '    command: ["sleep", "infinity"]',
            "    init: true",
            f"    deploy: {{replicas: {REPLICAS}}}",
        ]
    path = directory / "compose.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def timed(action: Callable[[], object]) -> float:
    """Wall seconds one call of `action` takes."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=7)
    args = parser.parse_args(argv)
    install_sigterm()
    try:
        check_engine()
        docker("tag", base_image(), IMAGE)
    except SetupError as error:
        print(f"cannot run here: {error}", file=sys.stderr)
        return 2
    project = project_name("bench-drift")
    with tempfile.TemporaryDirectory() as scratch:
        compose_file = write_project(Path(scratch))
        try:
            for environment in ENVIRONMENTS:
                done = agentlab("-e", environment, "up", files=(compose_file,), project=project,
                                timeout=600)  # fmt: skip
                note(f"{environment}: up in {done.seconds:.1f} s")
            labs = [Lab(load_project([str(compose_file)], project, e)) for e in ENVIRONMENTS]
            for each in labs:
                report = each.drift()
                if report.replicas != SERVICES * REPLICAS or len(report.environments) != 2:
                    raise RuntimeError(f"{each.name}: not {SERVICES * REPLICAS} replicas, "
                                       f"or not 2 other environments: {report}")  # fmt: skip
                if report.drifts:
                    raise RuntimeError(f"{each.name}: drift {report.drifts}")
            ids = {
                e: docker("ps", "-q", "--filter",
                          f"label=com.docker.compose.project={project}-{e}").out.split()
                for e in ENVIRONMENTS
            }  # fmt: skip
            times: dict[str, list[float]] = {
                "drift, 3 environments, in process": [],
                "agentlab -e ENV drift (CLI), per environment": [],
                "docker inspect of 15 containers (one call)": [],
                "docker inspect per container, 45 calls": [],
            }
            for _ in range(args.trials):
                times["drift, 3 environments, in process"].append(
                    timed(lambda: [each.drift() for each in labs])
                )
                times["agentlab -e ENV drift (CLI), per environment"].append(
                    agentlab("-e", "prod", "drift", files=(compose_file,), project=project).seconds
                )
                times["docker inspect of 15 containers (one call)"].append(
                    docker("inspect", *ids["prod"]).seconds
                )
                times["docker inspect per container, 45 calls"].append(
                    timed(lambda: [docker("inspect", i) for e in ENVIRONMENTS for i in ids[e]])
                )
        finally:
            for environment in ENVIRONMENTS:
                compose("down", "-t", "1", files=(compose_file,),
                        project=f"{project}-{environment}", check=False)  # fmt: skip
            docker("image", "rm", IMAGE, check=False)
    baseline = median(times["docker inspect of 15 containers (one call)"])
    rows = [
        [name, args.trials, secs(median(t)), f"{median(t) / baseline:.2f}x"]
        for name, t in times.items()
    ]
    say(machine())
    say(table(["3 environments x 5 services x 3 replicas", "trials", "median", "vs one inspect"],
              rows))  # fmt: skip
    result = median(times["drift, 3 environments, in process"])
    ok = result <= TARGET
    say(f"drift of 3 environments: {secs(result)} (target <= {TARGET} s): {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
