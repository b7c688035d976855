"""Issue #4: the TUI on a project of 30 containers -- event latency and idle CPU.

1. Event -> table. The real app (`AgentlabApp` on the real engine, headless through
   Textual's `run_test()`), the agent service selected. At t0 `docker kill` one agent
   replica (then, in the same trial, `docker start` it again); the pilot loop polls the
   replicas table every 10 ms until the replica's row shows `exited` (then `running`).
   Baseline, from the same t0 in the same trial: a thread polling `docker inspect` of that
   container until it shows the new state. The lab's `events()` and `status()` are wrapped
   (timing only) to tell when the engine stamped the die/start event, when the app's
   stream delivered it, and when the status read the table shows ran.
   Target: median event -> table (Docker's timestamp of the die/start event -> the row
   shows it) under 0.5 s; t0 -> table is printed beside it (it adds Docker's own kill/start
   time, which the inspect baseline shows). Without the event timestamps (the app stopped
   reading events through `lab.events`) the target applies to t0 -> table.
2. Idle CPU. `agentlab -f <compose> -p <project> tui` in a real pseudo-terminal (a private
   tmux server, 160x48); once it shows the replicas, no input for 30 s; CPU time
   (utime + stime of the app and every descendant, `docker events` and the reaped
   `docker ps/inspect` children included) over that window, as % of one core. Baseline in
   the same window, in the same tmux server and size: a trivial Textual app with one Static.
   Target: under 2 % of one core.

    .venv/bin/python benchmarks/bench_tui.py [--quick] [--trials N] [--window S] [--agents N]

Runs on a snapshot of agentlab/demo/ (see benchlib.lab_snapshot); the lab is `agentlab up
--version 1.3.0` then `agentlab scale agent 28` (gateway + collector + 28 agents = 30).
Exit 0 when both targets are met, 1 when one is missed, 2 when it cannot run here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    AGENTLAB,
    ENV,
    REPO,
    SetupError,
    agentlab,
    check_engine,
    compose_down,
    docker,
    install_sigterm,
    lab,
    lab_snapshot,
    machine,
    median,
    note,
    project_name,
    say,
    secs,
    table,
    verdict,
)

LATENCY_TARGET = 0.5  # seconds, event -> table, median
CPU_TARGET = 2.0  # % of one core, idle TUI
VERSION = "1.3.0"
AGENTS = 28  # + gateway + collector = 30 containers
SIZE = (160, 48)
PYTHON = REPO / ".venv" / "bin" / "python"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
TICK = os.sysconf("SC_CLK_TCK")

TRIVIAL_APP = """\
from textual.app import App, ComposeResult
from textual.widgets import Static


class Trivial(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("idle baseline: one static label")


Trivial().run()
"""


# ---- the lab ---------------------------------------------------------------------------


def project_containers(project: str, service: str | None = None) -> dict[str, str]:
    """Running containers of this project only: name -> full id."""
    filters = ["--filter", f"label={PROJECT_LABEL}={project}"]
    if service:
        filters += ["--filter", f"label={SERVICE_LABEL}={service}"]
    out = docker("ps", "--no-trunc", *filters, "--format", "{{.Names}} {{.ID}}").out
    return dict(line.split() for line in out.splitlines() if line.strip())


def healthy_count(project: str) -> int:
    """How many of the project's running containers are healthy."""
    ids = list(project_containers(project).values())
    if not ids:
        return 0
    out = docker("inspect", "--format", "{{.State.Health.Status}}", *ids, check=False).out
    return out.split().count("healthy")


def bring_up(project: str, agents: int, created: list[str]) -> int:
    """agents + 2 containers, all running and healthy. `scale` waits with `compose up --wait`, which
    gives up on the first replica whose probes time out on a loaded machine; the replicas
    stay up and usually turn healthy again, so a failed scale waits a while longer here."""
    created.append(project)
    started = time.monotonic()
    agentlab("up", "--version", VERSION, "--timeout", "300", project=project, timeout=400)
    scaled = agentlab(
        "scale", "agent", str(agents), "--timeout", "400", project=project, timeout=500, check=False
    )
    if scaled.code != 0:
        note(f"scale exited {scaled.code} ({scaled.tail(1)}); waiting for health")
    expected = agents + 2
    deadline = time.monotonic() + 240
    count = healthy = 0
    while time.monotonic() < deadline:
        count, healthy = len(project_containers(project)), healthy_count(project)
        if count >= expected and healthy == count:
            break
        time.sleep(2)
    else:
        raise RuntimeError(
            f"{project}: {healthy}/{count} containers healthy, {expected} expected; "
            f"scale said:\n{scaled.tail()}"
        )
    note(f"{project}: {count} containers up and healthy in {time.monotonic() - started:.0f} s")
    return count


# ---- 1. event -> table -------------------------------------------------------------------


@dataclass
class Arrivals:
    """Wraps the lab's event stream: when each container event reached the app's process.
    Optional instrumentation: if the app stops opening the stream through `lab.events`,
    the breakdown columns show `-` and nothing else changes."""

    seen: list[tuple[float, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, target: Any) -> None:
        original = target.events
        arrivals = self

        class Recording:
            def __init__(self) -> None:
                self.stream = original()

            def __iter__(self) -> Iterator[Any]:
                for event in self.stream:
                    with arrivals.lock:
                        arrivals.seen.append((time.time(), event))
                    yield event

            def close(self) -> None:
                self.stream.close()

        target.events = Recording

    def first(self, container_id: str, actions: tuple[str, ...], after: float) -> Any | None:
        """(arrival wall time, event) of the first matching event stamped after `after`."""
        with self.lock:
            for arrived, event in self.seen:
                if (
                    event.container_id == container_id
                    and event.action in actions
                    and event.time.timestamp() >= after - 0.05
                ):
                    return arrived, event
        return None


@dataclass
class Sample:
    action: str  # kill | start
    replica: str
    app: float  # t0 -> the table shows it
    inspect: float | None  # t0 -> docker inspect shows it (baseline)
    event: float | None  # t0 -> the engine's timestamp of the event
    arrived: float | None  # t0 -> the event reached the app's process
    read_start: float | None = None  # t0 -> the status read whose result the table shows
    read_end: float | None = None
    cli_calls: list[float] = field(default_factory=list)  # the baseline's docker inspect calls


@dataclass
class StatusReads:
    """Wraps the lab's `status()` (the facade the app reads through): when each read ran.
    Optional instrumentation, like Arrivals."""

    spans: list[tuple[float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, target: Any) -> None:
        original = target.status

        def timed() -> Any:
            started = time.perf_counter()
            try:
                return original()
            finally:
                with self.lock:
                    self.spans.append((started, time.perf_counter()))

        target.status = timed

    def last_before(self, moment: float) -> tuple[float, float] | None:
        with self.lock:
            done = [span for span in self.spans if span[1] <= moment]
        return max(done, key=lambda span: span[1]) if done else None


class InspectPoller(threading.Thread):
    """Baseline: `docker inspect` of the container in a loop until it shows `state`."""

    def __init__(self, container_id: str, state: str, t0: float, timeout: float) -> None:
        super().__init__(name="bench-inspect", daemon=True)
        self.container_id, self.state, self.t0, self.timeout = container_id, state, t0, timeout
        self.seen_at: float | None = None
        self.calls: list[float] = []  # seconds per docker inspect call

    def run(self) -> None:
        while time.perf_counter() - self.t0 < self.timeout:
            started = time.perf_counter()
            done = subprocess.run(
                ["docker", "inspect", "--format", "{{.State.Status}}", self.container_id],
                capture_output=True,
                text=True,
                check=False,
            )
            self.calls.append(time.perf_counter() - started)
            if done.stdout.strip() == self.state:
                self.seen_at = time.perf_counter()
                return


def replica_row(app: Any, name: str) -> list[str] | None:
    """The plain cells of the replicas table's row for container `name`, if shown."""
    from textual.widgets import DataTable

    table = app.query_one("#replica-table", DataTable)
    for row in table.ordered_rows:
        cells = [str(cell) for cell in table.get_row(row.key)]
        if cells and cells[0] == name:
            return cells
    return None


def replica_shows(app: Any, name: str, *words: str) -> bool:
    cells = replica_row(app, name)
    return cells is not None and all(word in cells for word in words)


async def wait_until(pilot: Any, ready: Any, timeout: float, what: str, step: float) -> float:
    """Run the app until `ready()`; the perf_counter time it first held."""
    deadline = time.perf_counter() + timeout
    while not ready():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(step)
    return time.perf_counter()


async def one_change(
    pilot: Any,
    app: Any,
    arrivals: Arrivals,
    reads: StatusReads,
    action: str,
    name: str,
    container_id: str,
) -> Sample:
    """`docker kill|start` one replica at t0; when the table, inspect and the stream see it."""
    state = "exited" if action == "kill" else "running"
    actions = ("die",) if action == "kill" else ("start",)
    wall0, t0 = time.time(), time.perf_counter()
    command = subprocess.Popen(
        ["docker", action, container_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    poller = InspectPoller(container_id, state, t0, 60)
    poller.start()
    shown = await wait_until(
        pilot, lambda: replica_shows(app, name, state), 60, f"{name} {state} in the table", 0.01
    )
    _, err = command.communicate(timeout=60)
    if command.returncode != 0:
        raise RuntimeError(f"docker {action} {name} failed: {err.strip()}")
    poller.join(60)
    seen = arrivals.first(container_id, actions, wall0)
    event = arrived = None
    if seen is not None:
        arrived = seen[0] - wall0
        event = seen[1].time.timestamp() - wall0
    inspect = poller.seen_at - t0 if poller.seen_at is not None else None
    sample = Sample(action, name, shown - t0, inspect, event, arrived, cli_calls=poller.calls)
    read = reads.last_before(shown)
    if read is not None and read[0] >= t0:
        sample.read_start, sample.read_end = read[0] - t0, read[1] - t0
    return sample


async def latency_trials(project: str, trials: int) -> tuple[list[Sample], list[float]]:
    """The trials; then, the app closed, a few bare `lab.status()` calls (seconds each)."""
    from agentlab.lab.facade import Lab
    from agentlab.project.location import load_project
    from agentlab.tui.app import AgentlabApp

    os.environ["AGENTLAB_GATEWAY_PORT"] = "0"  # as the lab was brought up
    the_lab = Lab(load_project([str(lab().compose_file)], project))
    arrivals = Arrivals()
    arrivals.install(the_lab)
    reads = StatusReads()
    reads.install(the_lab)
    agents = project_containers(project, "agent")
    names = sorted(agents, key=lambda n: int(n.rsplit("-", 1)[-1]))
    app = AgentlabApp(the_lab)
    samples: list[Sample] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: all(replica_shows(app, n, "running") for n in names),
            120,
            "every agent replica running in the table",
            0.05,
        )
        for i in range(trials):
            name = names[1 + i % (len(names) - 1)]  # rotate, sparing agent-1
            await wait_until(
                pilot,
                lambda n=name: replica_shows(app, n, "running", "healthy"),
                120,
                f"{name} running and healthy",
                0.05,
            )
            for action in ("kill", "start"):
                await pilot.pause(1.0)  # quiet: the previous change's reads are over
                sample = await one_change(pilot, app, arrivals, reads, action, name, agents[name])
                samples.append(sample)
                note(
                    f"trial {i + 1}/{trials} {action:5} {name}: table {sample.app:.3f} s, "
                    f"inspect {secs(sample.inspect)}, event at {secs(sample.event)}, "
                    f"delivered at {secs(sample.arrived)}, shown by the read "
                    f"{secs(sample.read_start)} .. {secs(sample.read_end)}"
                )
    bare = []
    for _ in range(5):
        started = time.perf_counter()
        Lab(load_project([str(lab().compose_file)], project)).status()
        bare.append(time.perf_counter() - started)
    return samples, bare


def since_event(samples: list[Sample], field_name: str) -> list[float]:
    """`field_name` (app | inspect) measured from the engine's stamp of the event."""
    out = []
    for s in samples:
        value = getattr(s, field_name)
        if value is not None and s.event is not None:
            out.append(value - s.event)
    return out


def latency_report(samples: list[Sample], bare: list[float]) -> None:
    def col(values: list[float | None] | list[float], fn: Any) -> str:
        present = [v for v in values if v is not None]
        return secs(fn(present)) if present else "-"

    rows = []
    groups = (
        ("kill -> exited", [s for s in samples if s.action == "kill"]),
        ("start -> running", [s for s in samples if s.action == "start"]),
        ("all", samples),
    )
    for label, group in groups:
        rows.append(
            [
                label,
                len(group),
                col([s.app for s in group], median),
                col([s.app for s in group], max),
                col([s.inspect for s in group], median),
                col([s.event for s in group], median),
                col(
                    [
                        s.arrived - s.event
                        for s in group
                        if s.arrived is not None and s.event is not None
                    ],
                    median,
                ),
                col(since_event(group, "app"), median),
                col(since_event(group, "app"), max),
                col(since_event(group, "inspect"), median),
            ]
        )
    say(
        table(
            [
                "change",
                "n",
                "t0->table med",
                "max",
                "t0->inspect med",
                "t0->event",
                "event->app gets it",
                "event->table med",
                "max",
                "event->inspect med",
            ],
            rows,
        )
    )
    say(
        table(
            [
                "event -> table, medians",
                "event->app gets it",
                "->status read starts",
                "status read (lab.status)",
                "read done->table",
            ],
            [
                [
                    label,
                    col(
                        [
                            s.arrived - s.event
                            for s in g
                            if s.arrived is not None and s.event is not None
                        ],
                        median,
                    ),
                    col(
                        [
                            s.read_start - s.arrived
                            for s in g
                            if s.read_start is not None and s.arrived is not None
                        ],
                        median,
                    ),
                    col(
                        [
                            s.read_end - s.read_start
                            for s in g
                            if s.read_end is not None and s.read_start is not None
                        ],
                        median,
                    ),
                    col([s.app - s.read_end for s in g if s.read_end is not None], median),
                ]
                for label, g in groups
            ],
        )
    )
    calls = [c for s in samples for c in s.cli_calls]
    say(
        f"one `docker inspect` CLI call took {secs(median(calls))} (median of {len(calls)}) in "
        "these trials; a status read runs three docker CLI calls in series (ps, container "
        f"inspect, image inspect); a bare lab.status() with no app running took "
        f"{secs(median(bare))} (median of {len(bare)}, after the trials)"
    )
    say(
        "t0: the docker kill/start command starts; event: Docker's timestamp of the die/start "
        "event; table: the replica's row shows exited/running; inspect: a docker inspect "
        "loop from t0 (baseline) shows it"
    )


# ---- 2. idle CPU ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    start: int  # starttime, ticks since boot: tells a reused pid apart
    own: int  # utime + stime, ticks
    reaped: int  # cutime + cstime: waited-for children, ticks


def read_proc(pid: int) -> Proc | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    head, _, rest = raw.rpartition(")")
    comm = head.partition("(")[2]
    fields = rest.split()  # fields[0] is field 3 (state) of proc(5)
    return Proc(
        pid,
        int(fields[1]),
        comm,
        int(fields[19]),
        int(fields[11]) + int(fields[12]),
        int(fields[13]) + int(fields[14]),
    )


def process_tree(root: int) -> dict[int, Proc]:
    """`root` and every live descendant."""
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (proc := read_proc(int(entry))) is not None:
            procs[proc.pid] = proc
    tree: dict[int, Proc] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        if pid in procs and pid not in tree:
            tree[pid] = procs[pid]
            frontier += [p.pid for p in procs.values() if p.ppid == pid]
    return tree


def tree_ticks(tree: dict[int, Proc]) -> int:
    """CPU of a tree, consistent across reaping: a child's time moves into its parent's
    cutime/cstime when it is waited for, so own + reaped summed over live processes only
    grows by what the tree ran."""
    return sum(p.own + p.reaped for p in tree.values())


def breakdown(before: dict[int, Proc], after: dict[int, Proc]) -> dict[str, int]:
    """Ticks over the window by who spent them: each live process by command name, and
    the children that ended during the window (docker ps/inspect of the status reads)."""
    parts: dict[str, int] = {}
    for pid, proc in after.items():
        old = before.get(pid)
        same = old is not None and old.start == proc.start
        own = proc.own - (old.own if same and old else 0)
        reaped = proc.reaped - (old.reaped if same and old else 0)
        parts[proc.comm] = parts.get(proc.comm, 0) + own
        parts["ended children"] = parts.get("ended children", 0) + reaped
    return parts


class Tmux:
    """A private tmux server (its own socket in `directory`): never touches anyone's
    sessions. No status line (the apps get all 160x48); a crashed app's last screen stays
    readable (remain-on-exit)."""

    def __init__(self, directory: Path) -> None:
        self.socket = directory / "tmux.sock"
        self.conf = directory / "tmux.conf"  # read when the server starts
        self.conf.write_text("set -g status off\nset -g remain-on-exit on\n", encoding="utf-8")
        self.pids: dict[int, int] = {}  # every pid seen in our sessions -> starttime

    def __call__(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", str(self.conf), *args],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=30,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start(self, session: str, command: list[str]) -> int:
        self(
            "new-session", "-d", "-s", session, "-x", str(SIZE[0]), "-y", str(SIZE[1]),
            "-c", str(REPO), shlex.join(command),
        )  # fmt: skip
        return int(self("list-panes", "-t", session, "-F", "#{pane_pid}").split()[0])

    def screen(self, session: str) -> str:
        return self("capture-pane", "-p", "-t", session, check=False)

    def remember(self, root: int) -> None:
        for pid, proc in process_tree(root).items():
            self.pids[pid] = proc.start

    def close(self) -> None:
        """Quit the apps (q), end the server, then SIGKILL any process of ours still
        alive (checked by pid and start time), e.g. an orphaned `docker events`."""
        for session in ("app", "base"):
            self("send-keys", "-t", session, "q", check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(self.alive(p) for p in self.pids):
            time.sleep(0.2)
        self("kill-server", check=False)
        time.sleep(0.5)
        for pid in list(self.pids):
            if self.alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, 9)

    def alive(self, pid: int) -> bool:
        proc = read_proc(pid)
        return proc is not None and proc.start == self.pids[pid]


class EventCounter:
    """The project's container events over the window, as the app's stream sees them
    (type=container, the project's label): one action per line."""

    def __init__(self, project: str) -> None:
        self.process = subprocess.Popen(
            [
                "docker", "events", "--format", "{{json .Action}}",
                "--filter", "type=container", "--filter", f"label={PROJECT_LABEL}={project}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        self.actions: list[str] = []
        self.thread = threading.Thread(target=self._read, name="bench-events", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip():
                self.actions.append(json.loads(line))

    def stop(self) -> list[str]:
        self.process.terminate()
        self.process.wait(10)
        self.thread.join(10)
        return list(self.actions)


def wait_screen(tmux: Tmux, session: str, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in tmux.screen(session):
        if time.monotonic() > deadline:
            screen = tmux.screen(session).strip()
            raise RuntimeError(
                f"{session}: `{text}` not on screen after {timeout:.0f} s:\n{screen}"
            )
        time.sleep(0.5)


def idle_cpu(project: str, window: float, settle: float, tmux: Tmux, tmp: Path) -> dict[str, Any]:
    """Both apps in the same tmux server and size, sampled over the same window."""
    trivial = tmp / "trivial_app.py"
    trivial.write_text(TRIVIAL_APP, encoding="utf-8")
    app_cmd = [str(AGENTLAB), "-f", str(lab().compose_file), "-p", project, "tui"]
    roots = {
        "app": tmux.start("app", app_cmd),
        "base": tmux.start("base", [str(PYTHON), str(trivial)]),
    }
    wait_screen(tmux, "base", "idle baseline", 60)
    wait_screen(tmux, "app", f"{project}-agent-", 90)
    for root in roots.values():
        tmux.remember(root)
    note(f"both apps on screen; settling {settle:.0f} s")
    time.sleep(settle)
    counter = EventCounter(project)  # its own `docker events`, outside the measured trees
    try:
        before = {name: process_tree(root) for name, root in roots.items()}
        t0 = time.monotonic()
        for root in roots.values():
            tmux.remember(root)
        note(f"idle window: {window:.0f} s, no input")
        time.sleep(window)
        after = {name: process_tree(root) for name, root in roots.items()}
        elapsed = time.monotonic() - t0
    finally:
        actions = counter.stop()
    for root in roots.values():
        tmux.remember(root)
    for name, root in roots.items():
        if root not in after[name]:
            raise RuntimeError(f"the {name} process ended during the window:\n{tmux.screen(name)}")
    if f"{project}-agent-" not in tmux.screen("app"):
        raise RuntimeError(f"the TUI no longer shows the replicas:\n{tmux.screen('app')}")
    result: dict[str, Any] = {"window": elapsed}
    for name in roots:
        ticks = tree_ticks(after[name]) - tree_ticks(before[name])
        result[name] = 100.0 * ticks / TICK / elapsed
        result[f"{name}_parts"] = {
            k: 100.0 * v / TICK / elapsed for k, v in breakdown(before[name], after[name]).items()
        }
        result[f"{name}_procs"] = sorted(p.comm for p in after[name].values())
    result["events"] = len(actions)
    result["exec_events"] = sum(1 for a in actions if a.startswith("exec_"))
    return result


def cpu_report(cpu: dict[str, Any]) -> None:
    rows = []
    for name, label in (("app", "agentlab tui"), ("base", "trivial Textual app (baseline)")):
        parts = cpu[f"{name}_parts"]
        detail = ", ".join(f"{k} {v:.2f} %" for k, v in sorted(parts.items()) if v > 0) or "-"
        rows.append([label, f"{cpu[name]:.2f} %", detail])
    say(table([f"idle CPU over {cpu['window']:.0f} s (% of one core)", "total", "by"], rows))
    say(
        f"processes: app {cpu['app_procs']}, baseline {cpu['base_procs']}; the project's "
        f"container events in the window: {cpu['events']} ({cpu['exec_events']} exec_* "
        "from health probes)"
    )
    say(
        "by: each live process by command name (agentlab: the app's Python; docker: its "
        "`docker events`), and `ended children`: the short docker CLI calls of its status reads"
    )


# ---- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 trials, a 10 s CPU window")
    parser.add_argument("--trials", type=int, help="kill+start trials (default 10, quick 3)")
    parser.add_argument("--window", type=float, help="idle CPU window, s (default 30, quick 10)")
    parser.add_argument("--agents", type=int, default=AGENTS, help=f"default {AGENTS}")
    args = parser.parse_args(argv)
    trials = args.trials or (3 if args.quick else 10)
    window = args.window or (10.0 if args.quick else 30.0)
    settle = 3.0 if args.quick else 5.0
    install_sigterm()
    try:
        check_engine()
        if shutil.which("tmux") is None:
            raise SetupError("tmux is missing (apt-get install tmux)")
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    say(
        f"bench_tui: agent {VERSION} x {args.agents} + gateway + collector; {trials} kill+start "
        f"trials; idle window {window:.0f} s; {SIZE[0]}x{SIZE[1]}{' (quick)' if args.quick else ''}"
    )
    say(f"machine: {machine()}")
    created: list[str] = []
    tmux_dir = Path(tempfile.mkdtemp(prefix="agentlab-bench-tmux-"))
    tmux = Tmux(tmux_dir)
    try:
        with lab_snapshot(), tempfile.TemporaryDirectory(prefix="agentlab-bench-") as tmp:
            project = project_name("bench-tui")
            containers = bring_up(project, args.agents, created)
            try:
                cpu = idle_cpu(project, window, settle, tmux, Path(tmp))
            finally:
                tmux.close()
            samples, bare = asyncio.run(latency_trials(project, trials))
    except KeyboardInterrupt:
        print("interrupted (cleaned up)", file=sys.stderr)
        return 130
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        tmux.close()
        shutil.rmtree(tmux_dir, ignore_errors=True)
        for project in list(created):
            compose_down(project)
    say()
    say(f"{containers} containers in the project")
    say()
    latency_report(samples, bare)
    say()
    cpu_report(cpu)
    say()
    say(f"at the end: {machine()}")
    from_event = since_event(samples, "app")
    inspect_from_event = since_event(samples, "inspect")
    if len(from_event) == len(samples):
        gated, gated_max, base_latency = (
            median(from_event),
            max(from_event),
            median(inspect_from_event),
        )
        gated_label = "event -> table"
    else:  # the event stream's instrumentation saw nothing: gate the stricter t0 -> table
        gated, gated_max = median(s.app for s in samples), max(s.app for s in samples)
        base_latency = median(s.inspect for s in samples if s.inspect is not None)
        gated_label = "t0 (docker CLI) -> table"
    t0_app = median(s.app for s in samples)
    t0_inspect = median(s.inspect for s in samples if s.inspect is not None)
    latency_ok = gated < LATENCY_TARGET
    cpu_ok = cpu["app"] < CPU_TARGET
    base = cpu["base"]
    say()
    say(
        table(
            ["check", "measured", "baseline (same run)", "ratio", "target", "result"],
            [
                [
                    f"{gated_label}, {containers} containers (median; max)",
                    f"{secs(gated)}; {secs(gated_max)}",
                    f"{secs(base_latency)} (docker inspect)",
                    f"{gated / LATENCY_TARGET:.2f}x of target; {gated / base_latency:.2f}x inspect",
                    f"< {LATENCY_TARGET:.2f} s",
                    verdict(latency_ok),
                ],
                [
                    "t0 (docker CLI) -> table (median)",
                    secs(t0_app),
                    f"{secs(t0_inspect)} (docker inspect)",
                    f"{t0_app / t0_inspect:.2f}x inspect",
                    "-",
                    "info",
                ],
                [
                    f"idle TUI CPU over {cpu['window']:.0f} s",
                    f"{cpu['app']:.2f} %",
                    f"{base:.2f} % (trivial Textual app)",
                    f"{cpu['app'] / CPU_TARGET:.2f}x of target; "
                    + (f"{cpu['app'] / base:.1f}x trivial" if base > 0 else "trivial used 0"),
                    f"< {CPU_TARGET:g} %",
                    verdict(cpu_ok),
                ],
            ],
        )
    )
    return 0 if latency_ok and cpu_ok else 1


if __name__ == "__main__":
    sys.exit(main())
