"""The version picker: local and buildable versions, semver-sorted, current marked."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from agentlab.lab.catalogue import VersionRow
from agentlab.tui.screens.dialog import Dialog


def version_prompt(row: VersionRow) -> Text:
    """One version: a marker for the current one, where it comes from, and why it is
    blocked or what it needs."""
    text = Text.assemble(
        ("● " if row.current else "  ", "bold green"),
        (f"{row.version:<10}", "bold"),
        (" current  " if row.current else (" local    " if row.local else " build    ")),
    )
    if row.blocked:
        text.append(f"{row.blocked_note}  ", style="yellow" if row.current else "red")
    if row.requires:
        text.append(f"requires {row.requires}  ", style="yellow")
    if row.note:
        text.append(row.note, style="dim")
    return text


class VersionPicker(Dialog[str]):
    """Choose a version of one service; blocked versions cannot be chosen."""

    def __init__(self, service: str, rows: list[VersionRow]) -> None:
        super().__init__()
        self.service = service
        self.rows = rows

    def compose(self) -> ComposeResult:
        options = [
            Option(version_prompt(row), id=row.version, disabled=bool(row.blocked))
            for row in self.rows
        ]
        with Vertical(classes="dialog") as box:
            box.border_title = f"Set the version of {self.service}"
            yield OptionList(*options)
            yield Static("enter rolls out to the version · esc cancels", classes="hint")

    def on_mount(self) -> None:
        current = [i for i, row in enumerate(self.rows) if row.current]
        if current:
            self.query_one(OptionList).highlighted = current[0]

    @on(OptionList.OptionSelected)
    def choose(self, event: OptionList.OptionSelected) -> None:
        if any(row.current and row.version == event.option.id for row in self.rows):
            self.notify(f"{self.service} already runs {event.option.id}", severity="warning")
            return
        self.dismiss(event.option.id)
