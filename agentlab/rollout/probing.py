"""A new replica's readiness by agentlab's own probes, as Docker 25's `start_interval`
does and Docker 20.10 cannot: while Docker's health says `starting`, the runner runs the
replica's own healthcheck command in it (engine.probe: an exec, as Docker runs it) every
`probe_interval` seconds (from the start of one probe to the next, at least half an
interval after the last one ended), instead of waiting for Docker's next probe (`interval`
later).

The rule, per replica at the target image:
- ready at its first passing probe (Docker's health then turns healthy at its own next
  probe; after ready, Docker's health is what monitors it: unhealthy is a failure);
- failed once its start period is over and its probes have failed in a row, `retries`
  of them at least, for as long as Docker's own would have to: from the start of the
  first failure that counts, `(retries - 1) x (interval + the time a probe takes)`
  (Docker starts a probe `interval` after the last one ended). Failures during the start
  period do not count, as in Docker. So `retries` keeps its meaning, and a failure is
  seen no earlier than Docker's own verdict could come (a window of `retries x
  probe_interval` failed a good replica that took 3 s to boot on a loaded machine, with
  a start period of 2 s);
- a probe over the healthcheck's timeout is a failed probe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agentlab.engine.model import Healthcheck, Replica
from agentlab.engine.protocol import Engine

Verdict = Literal["ready", "failed", "pending"]


@dataclass
class ProbeState:
    """agentlab's probes of one replica so far."""

    due: float | None = None  # when the next probe may run (None: at once)
    passed: bool = False
    failures: int = 0  # failed in a row since the start period ended
    failing_since: float | None = None  # when the first of those started
    failing_for: float = 0.0  # seconds those probes took

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
    ended = clock()
    state.due = next_probe(started, ended, interval)
    if passed:
        state.passed = True
        return "ready"
    if started < running_since + check.start_period:
        return "pending"  # in the start period: does not count
    if state.failing_since is None:
        state.failing_since = started
    state.failures += 1
    state.failing_for += ended - started
    took = state.failing_for / state.failures  # what one probe takes, on average
    window = (check.retries - 1) * (check.interval + took)
    failed = state.failures >= check.retries and started - state.failing_since >= window
    return "failed" if failed else "pending"


def next_probe(started: float, ended: float, interval: float) -> float:
    """When the probe after one that ran from `started` to `ended` is due: `interval` after
    the start of this one, so probes run every `interval` seconds however long each takes
    (from its end, each took `interval` plus an exec's 50-300 ms, and a replica was seen
    ready that much later), but never sooner than half an interval after its end, so
    slow execs on a loaded machine do not run back to back."""
    return max(started + interval, ended + interval / 2)


def failed_reason(state: ProbeState, check: Healthcheck | None) -> str:
    """The failure line of a replica whose probes failed: agentlab's probes, more often
    than Docker's, over the time Docker's `retries` would have taken."""
    retries = f"retries: {check.retries}; " if check is not None else ""
    return (f"failed its health check after its start period ({retries}{state.failures} of "
            "agentlab's probes failed in a row)")  # fmt: skip
