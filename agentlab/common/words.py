"""Counted nouns for the lines people read: `1 replica`, `3 replicas`."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """`count` and `noun`, plural (an added `s`) unless the count is 1."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
