"""A yes/no question before something destructive."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from agentlab.tui.screens.dialog import Dialog


class ConfirmDialog(Dialog[bool]):
    """y or the Yes button confirms; n, escape or No cancels (No has the focus: enter
    cancels)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes"),
        Binding("n", "cancel", "No"),
    ]

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.heading = title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small") as box:
            box.border_title = self.heading
            yield Static(self.question)
            with Horizontal(classes="buttons"):
                yield Button("Yes", variant="error", action="screen.confirm")
                yield Button("No", id="no", action="screen.cancel")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_confirm(self) -> None:
        self.dismiss(True)
