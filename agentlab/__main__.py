"""The `agentlab` program (also `python -m agentlab`): scripted mode, and the terminal UI
for `agentlab tui`, which only then imports Textual."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentlab.common.processes import on_sigterm, stop_reason

if TYPE_CHECKING:
    from agentlab.lab.facade import Lab


def open_tui(lab: Lab) -> int:
    """Run the Textual app on this terminal until the user quits."""
    from agentlab.tui import run

    return run(lab)


def main(argv: Sequence[str] | None = None) -> int:
    """Load the program and run one command. Ctrl-C or SIGTERM while it loads (its imports
    take ~0.2 s) is one line and exit 130 or 143 too, not a traceback or a silent end."""
    before = None
    if threading.current_thread() is threading.main_thread():
        before = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        from agentlab.cli import main as cli

        if before is not None:
            signal.signal(signal.SIGTERM, before)
    except KeyboardInterrupt as stop:
        if before is not None:
            signal.signal(signal.SIGTERM, before)
        what, code = stop_reason(stop)
        print(f"error: {what} (hint: nothing was started; run it again)", file=sys.stderr)
        return code
    return cli.main(argv, open_tui)


if __name__ == "__main__":
    sys.exit(main())
