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
        title = f"{failed.name} ({failed.version}): {failed.reason}"
        lines += replica_details(title, failed.health_output, failed.logs_tail)
    return "\n".join(lines)


def replica_details(title: str, health: str | None, logs_tail: str | None) -> list[str]:
    """One failed replica's lines: its title, its last health output, its log tail."""
    lines = [f"--- {title}"]
    if health:
        lines.append(f"health: {health}")
    if logs_tail and logs_tail.strip():
        lines += ["log tail:", logs_tail.rstrip()]
    return lines
