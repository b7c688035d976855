"""Ask how many replicas a service should run."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from agentlab.tui.screens.dialog import Dialog


class ScaleDialog(Dialog[int]):
    """A number of replicas; enter confirms."""

    def __init__(self, service: str, replicas: int) -> None:
        super().__init__()
        self.service = service
        self.replicas = replicas

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small") as box:
            box.border_title = f"Scale {self.service}"
            yield Input(str(self.replicas), type="integer", id="replicas")
            yield Static("replicas (0 or more) · enter scales · esc cancels", classes="hint")

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        if event.value.strip().isdigit():
            self.dismiss(int(event.value))
        else:
            self.notify("enter a whole number of replicas", severity="warning")
