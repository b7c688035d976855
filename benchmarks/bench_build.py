"""`agentlab images build` of the whole demo catalogue with nothing changed, with the lab's
registry on (issue #14's target: <= 2 s; cached, nothing pushed again), against the same
command with the registry off (the ratio is what the registry costs).

    .venv/bin/python benchmarks/bench_build.py [--trials 5]     # ~1 min (the first push)

Runs on a copy of the demo lab (its own project name, a registry on a free 127.0.0.1 port)
and removes the project, the registry's volume and the references to it afterwards. The
demo images must be built (see benchmarks/README.md). Exit 0 PASS, 1 MISS, 2 cannot run.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

from benchlib import (
    AGENTLAB,
    DEMO,
    ENV,
    SetupError,
    check_engine,
    docker,
    install_sigterm,
    median,
    note,
    project_name,
    run,
    say,
    secs,
    table,
    verdict,
)

TARGET = 2.0


def build(compose_file: Path, project: str, env: dict[str, str]) -> float:
    done = run([str(AGENTLAB), "-f", str(compose_file), "-p", project, "images", "build"],
               env=env, timeout=900)  # fmt: skip
    if "pushed" in done.err or "building" in done.err:
        raise RuntimeError(f"something was built or pushed again:\n{done.tail()}")
    return done.seconds


def cleanup(compose_file: Path, project: str) -> None:
    override = compose_file.parent / ".agentlab" / project / "override.yaml"
    text = override.read_text() if override.exists() else ""
    files = ["-f", str(compose_file)] + (["-f", str(override)] if text else [])
    docker("compose", *files, "-p", project, "down", "-v", "--remove-orphans", "-t", "2",
           check=False)  # fmt: skip
    port = re.search(r"127\.0\.0\.1:(\d+):5000", text)
    if port:
        prefix = f"127.0.0.1:{port.group(1)}/"
        out = docker("image", "ls", "--digests", "--format",
                     "{{.Repository}} {{.Tag}} {{.Digest}}").out  # fmt: skip
        refs = []
        for line in out.splitlines():
            repository, tag, digest = line.split()
            if repository.startswith(prefix):
                refs += [f"{repository}:{tag}"] if tag != "<none>" else []
                refs += [f"{repository}@{digest}"] if digest != "<none>" else []
        if refs:
            docker("image", "rm", *refs, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    install_sigterm()
    try:
        check_engine()
    except SetupError as error:
        print(f"cannot run: {error}", file=sys.stderr)
        return 2
    env = {**ENV, "AGENTLAB_REGISTRY_PORT": "0"}
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        with_registry = Path(tmp) / "registry" / "compose.yaml"
        without = Path(tmp) / "plain" / "compose.yaml"
        for copy in (with_registry, without):
            shutil.copytree(DEMO.parent, copy.parent)
        settings = without.parent / "agentlab.yaml"
        settings.write_text(re.sub(r"\nregistry:\n(  .*\n)+", "\n", settings.read_text()))
        project = project_name("bench-build")
        try:
            note("first build: starts the registry and pushes the catalogue")
            run([str(AGENTLAB), "-f", str(with_registry), "-p", project, "images", "build"],
                env=env, timeout=900)  # fmt: skip
            timed: list[float] = []
            plain: list[float] = []
            for trial in range(args.trials):
                note(f"trial {trial + 1}/{args.trials}")
                plain.append(build(without, project, env))
                timed.append(build(with_registry, project, env))
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        finally:
            cleanup(with_registry, project)
    rows = [
        ["registry on (10 images)", secs(median(timed)), secs(min(timed)), secs(max(timed))],
        ["registry off", secs(median(plain)), secs(min(plain)), secs(max(plain))],
    ]
    say(table(["images build, nothing changed", "median", "min", "max"], rows))
    ratio = median(timed) / median(plain)
    ok = median(timed) <= TARGET
    say()
    say(table(["check", "measured", "baseline", "ratio", "target", ""],
              [["build, nothing changed", secs(median(timed)), secs(median(plain)),
                f"{ratio:.2f}x", f"<= {TARGET:.0f} s", verdict(ok)]]))  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
