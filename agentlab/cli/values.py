"""Option values that are never negative: durations, numbers, lists of weights.

argparse (3.11) takes a word that starts with '-' for an option unless it is a plain
negative number, so `--delay -1s` or `--steps -10,100` read "expected one argument" though
a value was given. `OneLineParser` takes any word that starts with '-' and a digit (or
'-.' and a digit) for a value, as argparse does from Python 3.13 on, and the types here
refuse a negative one in one line: `argument --delay: -1s is negative (...)`, exit 2,
before anything is touched. Whether a value is well formed otherwise stays the
command's check (a duration's format, a ratio's range).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)

NEGATIVE = re.compile(r"^-\.?\d")  # Python 3.13's argparse: a negative number, not an option


def _refuse(text: str, what: str) -> None:
    if NEGATIVE.match(text.strip()):
        raise argparse.ArgumentTypeError(f"{text.strip()} is negative; {what}")


def text(what: str) -> Callable[[str], str]:
    """A value kept as text (a duration, N or P%) that must not be negative."""

    def check(value: str) -> str:
        _refuse(value, what)
        return value

    check.__name__ = "value"
    return check


def number(convert: type[N], what: str) -> Callable[[str], N]:
    """An int or float that must not be negative; argparse's message when not a number."""

    def check(value: str) -> N:
        result = convert(value)
        if result < 0:
            raise argparse.ArgumentTypeError(f"{value.strip()} is negative; {what}")
        return result

    check.__name__ = convert.__name__  # "invalid float value: 'x'", as with type=float
    return check


def steps(value: str) -> str:
    """Canary steps (`10,pause 5s,50,100`): no negative weight or pause."""
    for item in value.split(","):
        words = item.split() or [item]
        _refuse(words[-1], "a weight is 0 to 100, a pause 0s or more")
    return value


DURATION = text("a duration is 0 or more, e.g. 2s")
SECONDS = number(float, "seconds are 0 or more, e.g. 30")
COUNT = number(int, "a count is 0 or more")
AMOUNT = text("replicas or a percent of them, 0 or more, e.g. 1 or 25%")
RATIO = number(float, "a ratio is 0 to 1")
RPS = number(float, "requests/s are above 0, e.g. 20")
