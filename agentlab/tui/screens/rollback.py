"""The rollback picker: a service's revisions from the history, newest first."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from agentlab.state.history_records import Revision
from agentlab.tui.screens.dialog import Dialog

OUTCOME_STYLES = {"complete": "green", "failed": "red", "rolled-back": "yellow", "undone": "dim"}


def revision_prompt(revision: Revision, current: bool) -> Text:
    """`● #3  1.3.0  complete  2024-01-01 10:00  rollout agent --to 1.3.0 (canary)`, and
    under it why it ended, when not complete."""
    strategy = f" ({revision.strategy})" if revision.strategy else ""
    return Text.assemble(
        ("● " if current else "  ", "bold green"),
        (f"#{revision.number:<3} ", "bold"),
        (f"{revision.version:<10} ", "bold"),
        (f"{revision.outcome:<12} ", OUTCOME_STYLES.get(revision.outcome, "dim")),
        (f"{revision.started_at[:16].replace('T', ' ')}  ", "dim"),
        f"{revision.cause}{strategy}",
        (f"\n       {revision.reason}" if revision.reason else "", "dim"),
    )


class RollbackPicker(Dialog[int]):
    """Choose the revision to roll back to; the current one is marked, the cursor starts
    on the previous one (where `rollback` with none named goes)."""

    def __init__(
        self, service: str, revisions: list[Revision], current: int | None, previous: int | None
    ) -> None:
        super().__init__()
        self.service = service
        self.revisions = sorted(revisions, key=lambda r: r.number, reverse=True)
        self.current = current
        self.previous = previous

    def on_mount(self) -> None:
        numbers = [r.number for r in self.revisions]
        start = self.previous if self.previous in numbers else self.current
        if start in numbers:
            self.query_one(OptionList).highlighted = numbers.index(start)

    def compose(self) -> ComposeResult:
        options = [
            Option(revision_prompt(r, r.number == self.current), id=str(r.number))
            for r in self.revisions
        ]
        with Vertical(classes="dialog") as box:
            box.border_title = f"Roll back {self.service} to a revision"
            yield OptionList(*options)
            yield Static("enter rolls back to the revision · esc cancels", classes="hint")

    @on(OptionList.OptionSelected)
    def choose(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))
