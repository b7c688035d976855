"""Rolling upgrades, rollbacks, recreate, interruption and locking on the real engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agentlab.engine.api import choose_transport
from tests.conftest import LabRun

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("demo_images")]


class Sampler(threading.Thread):
    """Independently samples the agent containers while a rollout runs: (containers,
    ready ones answering the service's name, ones answering the name). Ready: healthy, or
    still `starting` for Docker while in the name, which agentlab gives a new replica only
    once its own probe of it passed (Docker's verdict comes at its next probe); those
    are kept in `starting_named` to check against the rollout's events.

    An inspect reads the containers one by one, a moment apart on a busy machine: a
    new replica read just before it joined the name and an old one read just after it
    left (a moment later) would count one ready replica too few. A sample is therefore
    taken only when two reads in a row agree, which holds at every moment between them."""

    def __init__(self, lab: LabRun, service: str = "agent") -> None:
        super().__init__(daemon=True)
        self.lab, self.service = lab, service
        self.engine = choose_transport()
        self.samples: list[tuple[int, int, int]] = []
        self.seen: list[str] = []  # per sample: the time and each container as counted
        self.starting_named: set[str] = set()
        self.halt = threading.Event()

    def run(self) -> None:
        last = self._read()
        while not self.halt.is_set():
            now = self._read()
            if now == last:
                self._count(now)
                time.sleep(0.1)
            last = now

    def _read(self) -> list[tuple[str, str, str, str | None, bool]]:
        """Each container of the service: id, name, state, health, in the name (read on
        the engine's socket: a few milliseconds for all, where the CLI took a second)."""
        labels = [f"com.docker.compose.project={self.lab.project}",
                  f"com.docker.compose.service={self.service}"]  # fmt: skip
        read = []
        for doc in self.engine.inspect_containers(self.engine.container_ids(labels)):
            networks = (doc.get("NetworkSettings") or {}).get("Networks") or {}
            aliases = {a for n in networks.values() for a in (n or {}).get("Aliases") or []}
            health = (doc["State"].get("Health") or {}).get("Status")
            read.append((doc["Id"], doc["Name"], doc["State"]["Status"], health,
                         self.service in aliases))  # fmt: skip
        return read

    def _count(self, read: list[tuple[str, str, str, str | None, bool]]) -> None:
        healthy = named = 0
        for container_id, _, _, health, answers in read:
            named += answers
            healthy += answers and health in ("healthy", "starting")
            if answers and health == "starting":
                self.starting_named.add(container_id)
        self.samples.append((len(read), healthy, named))
        seen = [f"{name} {state}/{health}{' named' if answers else ''}"
                for _, name, state, health, answers in read]  # fmt: skip
        self.seen.append(f"{time.strftime('%H:%M:%S')} {'; '.join(seen)}")

    def least_healthy(self) -> tuple[int, str]:
        """The fewest ready replicas in the name, with the samples around that one."""
        at = min(range(len(self.samples)), key=lambda i: self.samples[i][1])
        return self.samples[at][1], "\n".join(self.seen[max(0, at - 3) : at + 3])

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.halt.set()
        self.join(timeout=10)


def events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def agent_versions(lab: LabRun) -> list[tuple[str, str | None, str]]:
    status = lab("status", "--json").json()
    agent = next(s for s in status["services"] if s["service"] == "agent")
    return sorted((r["version"], r["health"], r["state"]) for r in agent["replicas"])


def history(lab: LabRun) -> list[dict[str, Any]]:
    result = lab("history", "agent", "--json")
    assert result.code == 0, result.err
    return list(result.json())


@pytest.fixture
def lab_at_1_2(demo_lab: LabRun) -> Iterator[LabRun]:
    result = demo_lab("up", "--version", "1.2.0")
    assert result.code == 0, result.err
    yield demo_lab


def test_rolling_upgrade_keeps_capacity_and_traffic(lab_at_1_2: LabRun) -> None:
    lab = lab_at_1_2
    with Sampler(lab) as sampler:
        result = lab(
            "rollout",
            "agent",
            "--to",
            "1.3.0",
            "--max-surge",
            "1",
            "--max-unavailable",
            "0",
            "--traffic",
            "50",
            "--json",
        )
    assert result.code == 0, result.err
    # max surge 1: 4 replicas answer the name at most (an old one out of it waits out its
    # deregistration delay beside them); 3 healthy ones answer it at least
    assert max(named for *_, named in sampler.samples) <= 4
    assert max(total for total, *_ in sampler.samples) >= 4
    least, around = sampler.least_healthy()
    assert least >= 3, around
    probed = {
        e["id"] for e in events(result.out) if e["event"] == "replica_ready" and e["by"] == "probe"
    }
    assert sampler.starting_named <= probed  # in the name while starting: agentlab's probe
    assert len(sampler.samples) > 20
    traffic = next(e for e in events(result.out) if e["event"] == "traffic")
    assert traffic["failed"] == 0 and traffic["ok"] > 100
    kinds = [e["event"] for e in events(result.out)]
    assert kinds.count("replica_removed") == 3
    assert agent_versions(lab) == [("1.3.0", "healthy", "running")] * 3
    revisions = history(lab)
    assert [(r["number"], r["version"], r["outcome"]) for r in revisions] == [
        (1, "1.2.0", "complete"),
        (2, "1.3.0", "complete"),
    ]


def test_a_scaled_service_keeps_its_replica_count_through_rollout_and_up(
    lab_at_1_2: LabRun,
) -> None:
    lab = lab_at_1_2
    assert lab("scale", "agent", "4").code == 0
    agent = next(s for s in lab("status", "--json").json()["services"] if s["service"] == "agent")
    assert (agent["desired"], agent["ready"]) == (4, 4)
    rolled = lab("rollout", "agent", "--to", "1.3.0")
    assert rolled.code == 0, rolled.err
    assert agent_versions(lab) == [("1.3.0", "healthy", "running")] * 4
    assert lab("up").code == 0  # a plain `compose up` from the override keeps 4 too
    assert agent_versions(lab) == [("1.3.0", "healthy", "running")] * 4


def test_bad_version_rolls_back_then_rollback_by_hand(lab_at_1_2: LabRun) -> None:
    lab = lab_at_1_2
    assert lab("rollout", "agent", "--to", "1.3.0").code == 0
    with Sampler(lab) as sampler:
        failed = lab("rollout", "agent", "--to", "1.4.0", "--traffic", "20", "--json")
    assert failed.code == 1
    traffic = next(e for e in events(failed.out) if e["event"] == "traffic")
    # the gateway routes to replicas whose /health passes: the bad version serves nothing
    assert traffic["failed"] == 0 and set(traffic["versions"]) == {"1.3.0"}
    error = [line for line in failed.err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "rolled-back" in error[0] and "agent" in error[0]
    assert "health:" in failed.err  # the failed replica's health output follows
    assert "behaviour=never-healthy" in failed.err  # and the tail of its logs
    least, around = sampler.least_healthy()
    assert least >= 3, around
    assert agent_versions(lab) == [("1.3.0", "healthy", "running")] * 3
    last = history(lab)[-1]
    assert (last["version"], last["outcome"], last["strategy"]) == ("1.4.0", "rolled-back",
                                                                     "rolling")  # fmt: skip
    assert "1.4.0" in last["reason"] and "rolled back to 1.3.0" in last["reason"]

    back = lab("rollback", "agent", "--to-revision", "1")
    assert back.code == 0, back.err
    assert agent_versions(lab) == [("1.2.0", "healthy", "running")] * 3
    assert history(lab)[-1]["cause"] == "rollback --to-revision 1"


def test_recreate_loses_requests_and_says_how_many(lab_at_1_2: LabRun) -> None:
    result = lab_at_1_2(
        "rollout", "agent", "--to", "1.3.0", "--strategy", "recreate", "--traffic", "50", "--json"
    )
    assert result.code == 0, result.err
    traffic = next(e for e in events(result.out) if e["event"] == "traffic")
    assert traffic["failed"] > 0
    assert agent_versions(lab_at_1_2) == [("1.3.0", "healthy", "running")] * 3


def test_pause_action_leaves_things_and_says_how_to_continue(lab_at_1_2: LabRun) -> None:
    result = lab_at_1_2("rollout", "agent", "--to", "1.4.0", "--failure-action", "pause")
    assert result.code == 1
    assert "agentlab rollout resume agent" in result.err
    warned = lab_at_1_2("status")
    assert "is paused" in warned.err
    document = lab_at_1_2("status", "--json").json()  # and to scripts, in its document
    (agent,) = [s for s in document["services"] if s["service"] == "agent"]
    paused = agent["unfinished_rollout"]
    assert (paused["state"], paused["to_version"]) == ("paused", "1.4.0"), paused
    undo = lab_at_1_2("rollout", "undo", "agent")
    assert undo.code == 0, undo.err
    assert agent_versions(lab_at_1_2) == [("1.2.0", "healthy", "running")] * 3
    after = lab_at_1_2("status", "--json").json()["services"]
    assert [s["unfinished_rollout"] for s in after if s["service"] == "agent"] == [None]


def rollout_in_background(lab: LabRun, replicas_started: int) -> subprocess.Popen[str]:
    """Start `rollout agent --to 1.3.0` and return once it has started that many replicas."""
    cmd = [sys.executable, "-m", "agentlab", "-f", str(lab.compose_file), "-p", lab.project,
           "rollout", "agent", "--to", "1.3.0", "--json"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=lab.env)
    assert proc.stdout is not None
    started = 0
    deadline = time.monotonic() + 90
    for line in proc.stdout:
        started += '"replica_started"' in line
        if started == replicas_started or time.monotonic() > deadline:
            break
    assert started == replicas_started
    return proc


def kill_mid_rollout(lab: LabRun) -> None:
    """Start a rollout, SIGKILL agentlab once the second new replica has started."""
    proc = rollout_in_background(lab, 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.mark.parametrize("verb", ["resume", "undo"])
def test_kill_9_then_resume_or_undo_converges(lab_at_1_2: LabRun, verb: str) -> None:
    lab = lab_at_1_2
    kill_mid_rollout(lab)
    status = lab("status")
    assert "was interrupted" in status.err
    blocked = lab("rollout", "agent", "--to", "1.3.0")
    assert blocked.code == 1 and "interrupted" in blocked.err
    done = lab("rollout", verb, "agent")
    assert done.code == 0, done.err
    expected = "1.3.0" if verb == "resume" else "1.2.0"
    assert agent_versions(lab) == [(expected, "healthy", "running")] * 3
    names = [n for n in lab.containers() if f"{lab.project}-agent-" in n]
    assert len(names) == 3  # no orphans
    assert "interrupted" not in lab("status").err
    assert history(lab)[-1]["outcome"] == ("complete" if verb == "resume" else "undone")


def test_second_mutating_command_fails_fast(lab_at_1_2: LabRun) -> None:
    lab = lab_at_1_2
    proc = rollout_in_background(lab, 1)
    second = lab("up", "--set", "collector=2.0.0", timeout=30)
    proc.communicate(timeout=120)
    assert second.code == 1
    assert "another agentlab command is changing this project" in second.err
    assert proc.returncode == 0
    assert agent_versions(lab) == [("1.3.0", "healthy", "running")] * 3


def test_up_set_on_running_lab_rolls(lab_at_1_2: LabRun) -> None:
    with Sampler(lab_at_1_2) as sampler:
        result = lab_at_1_2("up", "--set", "agent=1.3.0")
    assert result.code == 0, result.err
    assert "rolling agent 1.2.0 -> 1.3.0" in result.err
    least, around = sampler.least_healthy()
    assert least >= 3, f"{around}\n{result.err}"
    assert agent_versions(lab_at_1_2) == [("1.3.0", "healthy", "running")] * 3


def test_refuses_surge_on_fixed_port_before_touching(demo_lab: LabRun) -> None:
    demo_lab.env["AGENTLAB_GATEWAY_PORT"] = "0"
    assert demo_lab("up").code == 0
    demo_lab.env["AGENTLAB_GATEWAY_PORT"] = "18080"
    before = demo_lab.containers()
    result = demo_lab("rollout", "gateway", "--to", "1.0.0", "--max-surge", "1")
    assert result.code == 2
    assert "fixed host port" in result.err and "--max-surge 0" in result.err
    assert demo_lab.containers() == before


@pytest.mark.parametrize(
    "args",
    [
        ["rollout", "agent", "--to", "1.3.0", "--max-surge", "0", "--max-unavailable", "0"],
        ["rollout", "agent", "--to", "8.8.8"],
        ["rollout", "agent"],
        ["rollout", "nosuch", "--to", "1.3.0"],
        ["rollout", "agent", "--to", "1.3.0", "--strategy", "bluegreen"],
        ["rollback", "agent", "--to-revision", "42"],
    ],
)
def test_bad_rollout_input_is_exit_2(lab_at_1_2: LabRun, args: list[str]) -> None:
    before = lab_at_1_2.containers()
    result = lab_at_1_2(*args)
    assert result.code == 2, result.err
    assert len(result.err.strip().splitlines()) == 1
    assert lab_at_1_2.containers() == before
