"""Shared helpers of the agentlab benchmarks (stdlib + agentlab only).

Every benchmark runs against the local Docker engine with its own unique project
names, never pulls (images must be built: `agentlab images build`), cleans up what it
created even on failure, and prints ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "agentlab" / "demo" / "compose.yaml"
AGENTLAB = REPO / ".venv" / "bin" / "agentlab"
SOURCE_REPO = "agentlab-demo"  # where `agentlab images build` puts the demo images
WEB = REPO / "tests" / "projects" / "webapp" / "web"  # the test project's web service

# Every compose/agentlab call of the benchmarks: an ephemeral gateway port on 127.0.0.1.
ENV = {**os.environ, "AGENTLAB_GATEWAY_PORT": "0"}

# The demo images the benchmarks use; agentlab never pulls and neither do we.
IMAGES = {
    "agent": ("1.2.0", "1.3.0", "1.4.0"),
    "collector": ("1.0.0",),
    "gateway": ("1.0.0",),
}
PINS_AT = {"collector": "1.0.0", "gateway": "1.0.0"}


class SetupError(Exception):
    """The benchmark cannot run here (no engine, images missing, swarm unusable)."""


@dataclass
class LabFiles:
    """The demo lab the benchmarks drive: a compose file (agentlab.yaml beside it) and the
    image repository prefix its services use."""

    compose_file: Path
    repo: str

    @property
    def state_root(self) -> Path:
        return self.compose_file.parent / ".agentlab"

    def image(self, service: str, version: str) -> str:
        return f"{self.repo}/{service}:{version}"


LAB = LabFiles(DEMO, SOURCE_REPO)


def lab() -> LabFiles:
    """The lab in use: the snapshot inside `lab_snapshot()`, else agentlab/demo/ itself."""
    return LAB


@contextmanager
def lab_snapshot() -> Iterator[dict[str, str]]:
    """Freeze the demo lab for one run: copy compose.yaml and agentlab.yaml to a temporary
    directory with the images renamed to a private repository, tagged at the image ids the
    demo tags point to now. Other people rebuilding `agentlab-demo/*` or editing agentlab/demo/
    during the run then change nothing here (a moved tag would make Compose recreate a
    service mid-trial). Yields the image ids by `service:version`; removes the private tags
    and the directory at the end."""
    global LAB
    ids = image_ids()
    private = f"agentlab-bench-{uuid.uuid4().hex[:8]}"
    tagged: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="agentlab-bench-"))
    saved = LAB
    try:
        for name in ("compose.yaml", "agentlab.yaml"):
            text = (DEMO.parent / name).read_text(encoding="utf-8")
            (directory / name).write_text(
                text.replace(f"{SOURCE_REPO}/", f"{private}/"), encoding="utf-8"
            )
        for key, image_id in ids.items():
            service, version = key.split(":")
            ref = f"{private}/{service}:{version}"
            docker("tag", image_id, ref)
            tagged.append(ref)
        LAB = LabFiles(directory / "compose.yaml", private)
        yield ids
    finally:
        LAB = saved
        if tagged:
            docker("rmi", *tagged, check=False)
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Done:
    """One finished command."""

    args: list[str]
    code: int
    out: str
    err: str
    seconds: float

    def tail(self, lines: int = 15) -> str:
        text = (self.out + "\n" + self.err).strip().splitlines()
        return "\n".join(text[-lines:])


def run(
    args: Sequence[str],
    *,
    timeout: float = 300.0,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> Done:
    """Run a command, time it (wall clock), capture its output."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or ENV,
            check=False,
            cwd=REPO,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"timed out after {timeout:.0f} s: {' '.join(args)}") from exc
    seconds = time.perf_counter() - started
    done = Done(list(args), proc.returncode, proc.stdout, proc.stderr, seconds)
    if check and done.code != 0:
        raise RuntimeError(f"exit {done.code}: {' '.join(args)}\n{done.tail()}")
    return done


def docker(*args: str, timeout: float = 120.0, check: bool = True) -> Done:
    return run(["docker", *args], timeout=timeout, check=check)


def agentlab(*args: str, files: Sequence[Path] = (), project: str, **kw: Any) -> Done:
    """The agentlab CLI as a user runs it: the venv's console script, in a subprocess.
    `files` default to the lab's compose file."""
    prefix = [str(AGENTLAB)]
    for path in files or (LAB.compose_file,):
        prefix += ["-f", str(path)]
    return run([*prefix, "-p", project, *args], **kw)


def compose(*args: str, files: Sequence[Path] = (), project: str, **kw: Any) -> Done:
    prefix = ["docker", "compose"]
    for path in files or (LAB.compose_file,):
        prefix += ["-f", str(path)]
    return run([*prefix, "-p", project, *args], **kw)


def project_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def compose_down(project: str) -> None:
    """Remove a compose project's containers and networks, and agentlab's state for it."""
    compose("down", "-v", "--remove-orphans", "-t", "2", project=project, check=False)
    shutil.rmtree(LAB.state_root / project, ignore_errors=True)


def check_engine() -> None:
    probes = (
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        ["docker", "compose", "version"],
    )
    for args in probes:
        try:
            done = run(args, timeout=30, check=False)
        except (OSError, RuntimeError) as exc:
            raise SetupError(f"{' '.join(args)}: {exc}") from None
        if done.code != 0:
            raise SetupError(f"{' '.join(args)} failed: {done.tail(2)}")
    if not AGENTLAB.exists():
        raise SetupError(f"{AGENTLAB} is missing: bash scripts/test.sh sets the venv up")
    # as scripts/lib.sh does: agentlab's bytecode up to date, even with PYTHONDONTWRITEBYTECODE
    run([str(AGENTLAB.parent / "python"), "-m", "compileall", "-q", str(REPO / "agentlab")])


def image_ids() -> dict[str, str]:
    """Full image ids of every image the benchmarks use, by `service:version`;
    SetupError naming the missing ones (build them, never pull)."""
    refs = {f"{svc}:{v}": f"{SOURCE_REPO}/{svc}:{v}" for svc, vs in IMAGES.items() for v in vs}
    found: dict[str, str] = {}
    for key, ref in refs.items():
        done = docker("image", "inspect", "--format", "{{.Id}}", ref, check=False)
        if done.code == 0:
            found[key] = done.out.strip()
    missing = [refs[key] for key in refs if key not in found]
    if missing:
        raise SetupError(
            "images missing: " + ", ".join(missing) + " (build them: AGENTLAB_BASE_IMAGE="
            "agentlab/base:offline .venv/bin/agentlab -f agentlab/demo/compose.yaml images build)"
        )
    return found


def local_image(variable: str, candidates: Sequence[str], kind: str) -> str:
    """The image `$variable` names (as scripts/test.sh sets it), else the first of
    `candidates` present on the engine (never a pull); SetupError naming the scripts/lib.sh
    function that builds one."""
    named = os.environ.get(variable)
    if named:
        return named
    for image in candidates:
        if docker("image", "inspect", image, check=False).code == 0:
            return image
    raise SetupError(f"no {kind} image: run `bash scripts/lib.sh ensure_{kind}_image`")


def base_image() -> str:
    """The Python base image the test projects build from."""
    return local_image("AGENTLAB_BASE_IMAGE", ("python:3.12-slim", "agentlab/base:offline"), "base")


def proxy_image() -> str:
    """The traffic layer's HAProxy image."""
    return local_image("AGENTLAB_PROXY_IMAGE", ("haproxy:2.6", "agentlab/haproxy:offline"), "proxy")


def build_web(ref: str, version: str, *build_args: str) -> None:
    """Build the webapp's web service at `version` as `ref` from the local base image
    (never a pull), with more `NAME=VALUE` build arguments."""
    args = [a for arg in (f"BASE_IMAGE={base_image()}", f"VERSION={version}", *build_args)
            for a in ("--build-arg", arg)]  # fmt: skip
    docker("build", "-q", *args, "-t", ref, str(WEB), timeout=600)


def write_yaml_json(path: Path, doc: dict[str, Any]) -> Path:
    """Compose reads JSON as YAML: write override files without a YAML library."""
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def pins_override(path: Path, agent_version: str, replicas: int | None = None) -> Path:
    """The same pins agentlab writes (image + pull_policy never), optionally a replica count."""
    services: dict[str, Any] = {
        name: {"image": LAB.image(name, version), "pull_policy": "never"}
        for name, version in {**PINS_AT, "agent": agent_version}.items()
    }
    if replicas is not None:
        services["agent"]["deploy"] = {"replicas": replicas}
    return write_yaml_json(path, {"services": services})


def replicas_override(path: Path, replicas: int) -> Path:
    return write_yaml_json(path, {"services": {"agent": {"deploy": {"replicas": replicas}}}})


def median(values: Iterable[float]) -> float:
    items = list(values)
    return statistics.median(items) if items else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def secs(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.2f} s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def install_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so `finally` blocks clean up."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def say(line: str = "") -> None:
    print(line, flush=True)


def note(line: str) -> None:
    """Progress on stderr, so the tables on stdout stay readable."""
    print(f"  .. {line}", file=sys.stderr, flush=True)


# ---- watching containers -------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One running container of the watched service."""

    id: str
    image_id: str
    health: str | None


def running_containers(label_filters: Sequence[str]) -> list[Seen] | None:
    """Running containers matching every `key=value` label, from one ps + one inspect;
    None when a container vanished between the two (try again)."""
    filters: list[str] = []
    for label in label_filters:
        filters += ["--filter", f"label={label}"]
    ids = docker("ps", "-q", "--no-trunc", *filters, check=False).out.split()
    if not ids:
        return []
    done = docker("inspect", *ids, check=False)
    try:
        raw = json.loads(done.out or "[]")
    except ValueError:
        return None
    if done.code != 0 and len(raw) != len(ids):
        return None
    seen = []
    for item in raw:
        state = item.get("State") or {}
        if state.get("Status") != "running":
            continue
        health = (state.get("Health") or {}).get("Status")
        seen.append(Seen(item["Id"], item.get("Image", ""), health))
    return seen


class Watcher:
    """Samples the running containers of one service every `interval` seconds in a
    thread: (monotonic time, containers). The same observer for every tool."""

    def __init__(self, label_filters: Sequence[str], interval: float = 0.25) -> None:
        self.label_filters = list(label_filters)
        self.interval = interval
        self.samples: list[tuple[float, list[Seen]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-watcher", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            seen = running_containers(self.label_filters)
            if seen is not None:
                with self._lock:
                    self.samples.append((now, seen))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - now)))

    def latest(self) -> list[Seen] | None:
        with self._lock:
            return self.samples[-1][1] if self.samples else None

    def wait_for(self, predicate: Callable[[list[Seen]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.latest()
            if seen is not None and predicate(seen):
                return True
            time.sleep(self.interval / 2)
        return False

    def settled_since(
        self, predicate: Callable[[list[Seen]], bool], after: float = 0.0
    ) -> float | None:
        """The time of the first sample (at or after `after`) from which every later
        sample satisfies `predicate`; None when the last sample does not."""
        with self._lock:
            samples = [s for s in self.samples if s[0] >= after]
        since = None
        for when, seen in samples:
            if not predicate(seen):
                since = None
            elif since is None:
                since = when
        return since

    def first(self, predicate: Callable[[list[Seen]], bool], after: float = 0.0) -> float | None:
        with self._lock:
            return next((t for t, seen in self.samples if t >= after and predicate(seen)), None)


def all_healthy_at(image_id: str, count: int) -> Callable[[list[Seen]], bool]:
    """Exactly `count` running containers, all at `image_id` and healthy."""

    def check(seen: list[Seen]) -> bool:
        return len(seen) == count and all(
            s.image_id == image_id and s.health == "healthy" for s in seen
        )

    return check


def any_at(image_id: str) -> Callable[[list[Seen]], bool]:
    def check(seen: list[Seen]) -> bool:
        return any(s.image_id == image_id for s in seen)

    return check


def machine() -> str:
    """CPUs, load average and running containers: how noisy this run's machine is."""
    one, five, _ = os.getloadavg()
    cpus = os.cpu_count() or 1
    running = len(docker("ps", "-q", check=False).out.split())
    line = (
        f"{cpus} CPUs, load average {one:.1f} (1 min) {five:.1f} (5 min), "
        f"{running} containers running on the engine"
    )
    if one > cpus:
        line += " -- busy machine: expect noise (ratios are same-run)"
    return line
