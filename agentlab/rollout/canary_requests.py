"""What a running canary can be asked from outside (`agentlab promote`, `abort`,
`weight`, or the TUI's keys), and the one word each travels as.

A weight set by hand applies at once and holds: the canary stays at it (its analysis
keeps reading the gates, and a failed gate still aborts) until promote, abort or another
weight. The plan's remaining steps are skipped, as after Argo Rollouts' manual promote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agentlab.common.errors import BadInput

HELD = "by hand, held"  # ends the step line of a weight set by hand


def held_line(percent: int) -> str:
    """The canary step a weight set by hand runs: `set weight 30% by hand, held`."""
    return f"set weight {percent}% {HELD}"


@dataclass(frozen=True)
class WeightRequest:
    """Send `percent` % of requests to the canary now, and hold there."""

    percent: int


Request = Literal["promote", "abort"] | WeightRequest


def weight_request(text: str | int, service: str = "SERVICE") -> WeightRequest:
    """A weight from user input: a whole percent from 0 to 100 (`30` or `30%`)."""
    written = str(text).strip().removesuffix("%").strip()
    if not written.isdigit() or not 0 <= int(written) <= 100:
        raise BadInput(f"a canary weight is a whole percent from 0 to 100, not '{text}'",
                       hint=f"agentlab weight {service} 30")  # fmt: skip
    return WeightRequest(int(written))


def request_word(request: Request) -> str:
    """The request as the word a canary reads (`promote`, `abort`, `weight 30`)."""
    return f"weight {request.percent}" if isinstance(request, WeightRequest) else request


def read_request(word: str) -> Request | None:
    """The request a word stands for; None for anything else."""
    if word in ("promote", "abort"):
        return "promote" if word == "promote" else "abort"
    verb, _, percent = word.partition(" ")
    if verb == "weight" and percent.isdigit() and int(percent) <= 100:
        return WeightRequest(int(percent))
    return None


def describe(request: Request) -> str:
    """The request in a sentence's words: `promote`, `abort`, `weight 30%`."""
    return f"weight {request.percent}%" if isinstance(request, WeightRequest) else request
