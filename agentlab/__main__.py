"""The `agentlab` program (also `python -m agentlab`): scripted mode, and the terminal UI
for `agentlab tui`, which only then imports Textual."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from agentlab.cli import main as cli
from agentlab.lab.facade import Lab


def open_tui(lab: Lab) -> int:
    """Run the Textual app on this terminal until the user quits."""
    from agentlab.tui import run

    return run(lab)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, open_tui)


if __name__ == "__main__":
    sys.exit(main())
