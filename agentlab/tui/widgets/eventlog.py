"""The event log: container events, rollout steps, health changes, config reloads."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

MAX_LINES = 1000


class EventLog(RichLog):
    """A scrolling log; each line starts with its time."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=MAX_LINES, min_width=20, wrap=True, id=id)
        self.border_title = "Events"

    def add(self, stamp: str, text: str, style: str = "") -> None:
        """Append one line: `HH:MM:SS  text`, the text in `style`."""
        self.write(Text.assemble((f"{stamp}  ", "dim"), (text, style)))
