"""Standard output that outlives its reader: `agentlab rollout web --to 1.1.0 | head -3`.

When the reader of a pipe goes away, the next write raises BrokenPipeError. A command
half-way through a rollout must not stop there (that would leave an interrupted rollout
behind), so once the reader is gone the rest of the output goes to /dev/null and the
command runs to its end and exit code.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class ReaderSafeStdout:
    """A text stream that forwards to `stream` until its reader has gone, then drops."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        """Point the descriptor at /dev/null, so that what is still buffered (and the
        interpreter's last flush at exit) goes nowhere instead of failing again."""
        self.reader_gone = True
        with (
            open(os.devnull, "w", encoding="utf-8") as devnull,
            contextlib.suppress(OSError, ValueError),  # no descriptor: nothing buffered
        ):
            os.dup2(devnull.fileno(), self._stream.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def reader_safe_stdout() -> Iterator[ReaderSafeStdout]:
    """Run the block with sys.stdout safe from a reader that goes away."""
    original = sys.stdout
    guarded = ReaderSafeStdout(original)
    sys.stdout = guarded
    try:
        yield guarded
    finally:
        sys.stdout = original
