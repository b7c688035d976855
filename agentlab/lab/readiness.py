"""Waiting until a project's containers are ready, after Compose has started them.

`up` and `scale` run `compose up -d` and then wait here instead of using Compose's
`--wait`: the wait wakes on engine events (see engine/wakeup.py), so it returns as soon
as the last replica turns healthy, shows ready/total as it goes, and fails fast on a
replica that exits or turns unhealthy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from agentlab.common.errors import OperationFailed
from agentlab.common.events import ProgressSink
from agentlab.engine.model import Replica
from agentlab.engine.protocol import FALLBACK_POLL, ChangeFeed, Engine
from agentlab.lab.rollout_io import replica_details


def has_failed(replica: Replica, managed: bool) -> bool:
    """Unhealthy, or exited; a service agentlab does not manage may exit 0, and so may a
    job (`managed` False for both)."""
    if replica.health == "unhealthy":
        return True
    if replica.state in ("exited", "dead"):
        return managed or replica.exit_code != 0
    return False


def wait_until_ready(
    engine: Engine,
    feed: ChangeFeed,
    services: Collection[str],
    managed: Collection[str],
    timeout: float,
    progress: ProgressSink,
    clock: Callable[[], float] = time.monotonic,
) -> list[Replica]:
    """Observe the project until every container of `services` is ready; return the last
    observation (every replica of the project). OperationFailed names the replicas that
    failed, or that were not ready when `timeout` ran out, with their logs."""
    deadline = clock() + timeout
    shown = ""
    while True:
        feed.mark()
        replicas = engine.replicas()
        watched = [r for r in replicas if r.service in services]
        failed = [r for r in watched if has_failed(r, r.service in managed)]
        waiting = [r for r in watched if not r.ready and r.state not in ("exited", "dead")]
        if failed:  # the failed ones first (their logs are shown), then the ones still starting
            starting = [r for r in waiting if r not in failed]
            raise not_ready_error(engine, [*failed, *starting], "not healthy")
        counts = f"{len(watched) - len(waiting)}/{len(watched)} replicas ready"
        if not waiting:
            if shown and counts != shown:  # the count shown as it went ends on the whole
                progress(counts)
            return replicas
        if counts != shown:
            progress(counts)
            shown = counts
        remaining = deadline - clock()
        if remaining <= 0:
            raise not_ready_error(engine, waiting, f"not healthy after {timeout:g}s",
                                  hint=f"raise --timeout (now {timeout:g}s) for a slow start; "
                                  "agentlab status; agentlab logs CONTAINER")  # fmt: skip
        feed.wait(min(remaining, FALLBACK_POLL))


def not_ready_error(
    engine: Engine,
    bad: list[Replica],
    why: str,
    hint: str = "agentlab status; pick another version with --set or --version",
) -> OperationFailed:
    """One line naming the replicas, and the health output and log tail of the first three."""
    details = []
    for replica in bad[:3]:
        title = f"{replica.name} ({replica.state}, {replica.health or 'no health'})"
        health = replica.health_log[-1] if replica.health_log else None
        details += replica_details(title, health, engine.logs_tail(replica.id, 10))
    names = ", ".join(f"{r.name} ({r.health if r.running and r.health else r.state})" for r in bad)
    return OperationFailed(f"{why}: {names}", hint=hint, details="\n".join(details))
