"""A new replica's readiness by agentlab's own probes, as Docker 25's `start_interval`
does and Docker 20.10 cannot: while Docker's health says `starting`, the runner runs the
replica's own healthcheck command in it (engine.probe: an exec, as Docker runs it) every
`probe_interval` seconds, instead of waiting for Docker's next probe (`interval` later).

The rule, per replica at the target image:
- ready at its first passing probe (Docker's health then turns healthy at its own next
  probe; after ready, Docker's health is what monitors it: unhealthy is a failure);
- failed once its start period is over and its last `retries` probes failed in a row.
  Failures during the start period do not count, as in Docker. `retries` thus tolerates
  `retries x probe_interval` of failure after the start period, not `retries x interval`:
  the start period is what gives a replica time to boot. A healthcheck without a start
  period gets no verdict of failure from agentlab: Docker's stands;
- a probe over the healthcheck's timeout is a failed probe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agentlab.engine.model import Replica
from agentlab.engine.protocol import Engine

Verdict = Literal["ready", "failed", "pending"]


@dataclass
class ProbeState:
    """agentlab's probes of one replica so far."""

    due: float | None = None  # when the next probe may run (None: at once)
    passed: bool = False
    failures: int = 0  # failed in a row since the start period ended

    def waiting(self) -> float | None:
        """When the runner should look again for this replica's next probe."""
        return None if self.passed else self.due


def probes(replica: Replica, interval: float) -> bool:
    """Whether agentlab probes this replica itself: a runnable healthcheck, a probe
    interval, and Docker's verdict still pending (or already given by a probe of ours)."""
    return interval > 0 and replica.healthcheck is not None and replica.health == "starting"


def probe(
    engine: Engine,
    replica: Replica,
    state: ProbeState,
    running_since: float,
    interval: float,
    clock: Callable[[], float],
) -> Verdict:
    """Probe `replica` when one is due; the verdict so far."""
    check = replica.healthcheck
    if state.passed:
        return "ready"
    started = clock()
    if check is None or (state.due is not None and started < state.due):
        return "pending"
    passed = engine.probe(replica.id, check)
    state.due = clock() + interval
    if passed:
        state.passed = True
        return "ready"
    counts = check.start_period > 0 and started >= running_since + check.start_period
    state.failures = state.failures + 1 if counts else 0
    return "failed" if state.failures >= check.retries else "pending"


def failed_reason(replica: Replica) -> str:
    """The failure line of a replica whose probes failed."""
    check = replica.healthcheck
    retries = check.retries if check else 0
    start = f"{check.start_period:g}s" if check else "its"
    return f"failed its health check {retries} times in a row after its {start} start period"
