"""The traffic panel: requests per second per version, and errors, as sparklines."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline, Static

from agentlab.traffic.load import TrafficReport

ERRORS = "errors"


def last_second(series: list[int]) -> int:
    """The count of the last complete second (the newest bucket is still filling)."""
    return series[-2] if len(series) > 1 else 0


class TrafficRow(Horizontal):
    """One series: a name, its sparkline and its latest rate."""

    def __init__(self, name: str, series: list[int]) -> None:
        super().__init__(classes="traffic-row errors" if name == ERRORS else "traffic-row")
        self.series_name = name
        self.series = series

    def compose(self) -> ComposeResult:
        yield Label(self.series_name, classes="series-name")
        yield Sparkline([float(n) for n in self.series], classes="series-line")
        yield Label(f"{last_second(self.series)}/s", classes="series-rate")

    def show(self, series: list[int]) -> None:
        self.series = series
        self.query_one(Sparkline).data = [float(n) for n in series]
        self.query_one(".series-rate", Label).update(f"{last_second(series)}/s")


class TrafficPanel(Vertical):
    """Idle text until traffic starts; then one row per version plus an errors row."""

    def compose(self) -> ComposeResult:
        yield Static(id="traffic-summary")
        yield Vertical(id="traffic-rows")

    def on_mount(self) -> None:
        self.border_title = "Traffic"
        self.show(None, running=False)

    def show(self, report: TrafficReport | None, running: bool) -> None:
        """Draw a report (None before any traffic ran)."""
        summary = self.query_one("#traffic-summary", Static)
        if report is None:
            summary.update(Text("off · press t to send traffic to the entry point", style="dim"))
            return
        state = f"{report.offered_rps:g} req/s" if running else "stopped"
        summary.update(
            Text.assemble(
                (state, "bold green" if running else "bold"),
                f"  sent {report.sent}  ok {report.ok}  ",
                (f"failed {report.failed}", "bold red" if report.failed else ""),
            )
        )
        rows = {row.series_name: row for row in self.query(TrafficRow)}
        wanted = {v: report.series(v) for v in sorted(report.ok_series)}
        wanted[ERRORS] = report.failed_series
        box = self.query_one("#traffic-rows", Vertical)
        for name, series in wanted.items():
            if name in rows:
                rows[name].show(series)
            else:
                box.mount(TrafficRow(name, series), before=rows.get(ERRORS))
