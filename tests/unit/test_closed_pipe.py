"""A command whose reader goes away (`| head`) runs to its end: nothing left half-done."""

from __future__ import annotations

import io
import os
import sys

from agentlab.cli.closed_pipe import ReaderSafeStdout, reader_safe_stdout


class GoneReader(io.StringIO):
    """A stream whose reader has gone after `keep` writes."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.keep = keep

    def write(self, text: str) -> int:
        if self.keep == 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.keep -= 1
        return super().write(text)


def test_writes_after_the_reader_went_are_dropped_not_raised() -> None:
    stream = GoneReader(keep=1)
    guarded = ReaderSafeStdout(stream)
    print("first", file=guarded)
    print("second", file=guarded)  # the reader is gone: no BrokenPipeError
    print("third", file=guarded)
    guarded.flush()
    assert guarded.reader_gone and stream.getvalue() == "first"


def test_a_real_pipe_closed_by_its_reader() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as pipe:
        guarded = ReaderSafeStdout(pipe)
        guarded.write("x" * 100_000)
        guarded.flush()
        assert guarded.reader_gone
        guarded.write("more")  # now /dev/null's
        guarded.flush()


def test_stdout_is_guarded_only_within_the_block() -> None:
    before = sys.stdout
    with reader_safe_stdout() as guarded:
        assert sys.stdout is guarded
    assert sys.stdout is before
