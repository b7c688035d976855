"""What goes in and out of a rollout's run besides its plan: the event sink and pause
flag it is given, and the failure details said after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from agentlab.rollout.events import RolloutEvent, RolloutFinished
from agentlab.rollout.phase import RolloutResult

Emit = Callable[[RolloutEvent], None]
PauseFlag = Callable[[], bool]


def drop(_: RolloutEvent) -> None:
    """An event sink that ignores events."""


def never() -> bool:
    """A pause flag that is never raised."""
    return False


@contextmanager
def finished_last(emit: Emit) -> Iterator[Emit]:
    """An emit that holds RolloutFinished until the block ends: what follows the runner
    (the joiners it recreates) is said before it, so a rollout's last event is its outcome."""
    held: list[RolloutEvent] = []

    def holding(event: RolloutEvent) -> None:
        (held.append if isinstance(event, RolloutFinished) else emit)(event)

    try:
        yield holding
    finally:
        for event in held:
            emit(event)


def failure_details(result: RolloutResult) -> str:
    """Health output and log tails of the replicas that failed a rollout."""
    lines = []
    for failed in result.failures[:3]:
        lines.append(f"--- {failed.name} ({failed.version}): {failed.reason}")
        if failed.health_output:
            lines.append(f"health: {failed.health_output}")
        if failed.logs_tail:
            lines += ["log tail:", failed.logs_tail.rstrip()]
    return "\n".join(lines)
