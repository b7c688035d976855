"""A replica's recent logs in a modal."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, Static

from agentlab.tui.screens.dialog import Dialog


class LogsScreen(Dialog[None]):
    """The tail of one replica's logs; escape closes it."""

    def __init__(self, container: str, text: str) -> None:
        super().__init__()
        self.container = container
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog logs") as box:
            box.border_title = f"Logs · {self.container}"
            log = Log(id="log-text")
            log.write(self.text or "(no output)")
            yield log
            yield Static("esc closes", classes="hint")
