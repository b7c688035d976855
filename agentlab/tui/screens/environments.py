"""The environments view: versions and images of every service side by side, one column
per environment (the one shown marked), and the switcher: enter shows another one."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.option_list import Option

from agentlab.lab.environments import ServiceAcross, ServiceRun
from agentlab.tui.screens.dialog import Dialog


def run_cell(run: ServiceRun, reference: ServiceRun | None) -> Text:
    """`1.4.1 606cc58f4d04`: yellow when it differs from the shown environment's."""
    if not run.images:
        return Text("-", style="dim")
    text = f"{run.versions} {' '.join(image.short for image in run.images)}"
    differs = reference is not None and run.image_ids != reference.image_ids
    return Text(text, style="yellow" if differs else "")


class EnvironmentsScreen(Dialog[str]):
    """Service x environment; choosing an environment switches the app to it."""

    DEFAULT_CSS = """
    .dialog.environments { width: 95%; }
    .dialog.environments DataTable { height: auto; max-height: 16; margin-bottom: 1; }
    """

    def __init__(self, current: str, names: list[str], rows: list[ServiceAcross]) -> None:
        super().__init__()
        self.current = current
        self.names = names
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog environments") as box:
            box.border_title = "Environments"
            yield DataTable[Text](id="across", cursor_type="none", zebra_stripes=True)
            yield OptionList(*(self._option(name) for name in self.names), id="switch")
            yield Static(
                "yellow: another image than the one shown · enter shows that environment · "
                "esc closes",
                classes="hint",
            )

    def _option(self, name: str) -> Option:
        marker = "● " if name == self.current else "  "
        return Option(Text.assemble((marker, "bold green"), name), id=name)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("SERVICE", key="service")
        for name in self.names:
            label = f"{name.upper()} ●" if name == self.current else name.upper()
            table.add_column(label, key=name)
        for row in self.rows:
            shown = next((r for r in row.runs if r.environment == self.current), None)
            cells = [run_cell(run, shown) for run in row.runs]
            table.add_row(Text(row.service, style="bold"), *cells, key=row.service)
        options = self.query_one(OptionList)
        options.highlighted = self.names.index(self.current) if self.current in self.names else 0
        options.focus()

    @on(OptionList.OptionSelected)
    def choose(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == self.current:
            self.dismiss(None)
            return
        self.dismiss(event.option.id)
