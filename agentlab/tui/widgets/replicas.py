"""The selected service's replicas (a drifted one marked), and the OCI labels of the selected
replica's image, with the reason of its drift."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from agentlab.engine.model import Replica
from agentlab.lab.drift import Drift
from agentlab.lab.status import LabStatus, ServiceStatus
from agentlab.tui.view import coloured, image_labels, replica_health, short_image, uptime
from agentlab.tui.widgets.tables import (
    Cells,
    columns_width,
    fitting,
    same_cell,
    selected_key,
    set_columns,
    sync_rows,
    update_cell,
)

COLUMNS = ("container", "version", "image", "state", "health", "uptime")
OPTIONAL = ("image", "uptime")  # left out, in this order, when the panel is too narrow


class ReplicasPanel(Vertical):
    """A replicas table over a short list of image labels. Too narrow for every column,
    it leaves out the image, then the uptime, then the project's prefix of the names."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._replicas: dict[str, Replica] = {}
        self._drift: dict[str, Drift] = {}  # replica name -> its drift
        self._labels = Text()
        self._rows: list[tuple[str, Cells]] = []
        self._prefix = ""  # the project's, before each container name

    def compose(self) -> ComposeResult:
        yield DataTable[Text](id="replica-table", cursor_type="row")
        yield Static(id="labels")

    def on_mount(self) -> None:
        self.border_title = "Replicas"
        set_columns(self.query_one(DataTable), COLUMNS)

    @property
    def selected(self) -> Replica | None:
        """The replica under the cursor."""
        key = selected_key(self.query_one(DataTable))
        return self._replicas.get(key) if key else None

    def show(self, service: ServiceStatus | None, status: LabStatus, now: datetime) -> None:
        """Show one service's replicas (none when nothing is selected)."""
        replicas = service.replicas if service else []
        self.border_title = f"Replicas · {service.name}" if service else "Replicas"
        self._replicas = {r.id: r for r in replicas}
        self._drift = {d.subject: d for d in status.drift}
        self._prefix = f"{status.project}-"
        self._rows = [
            (
                r.id,
                {
                    "container": _name(r.name, r.name in self._drift),
                    "version": Text(r.version or "-"),
                    "image": Text(short_image(r, status.digests), style="dim"),
                    "state": coloured(r.state),
                    "health": coloured(replica_health(r)) if r.running else Text("-", style="dim"),
                    "uptime": Text(uptime(r, now)),
                },
            )
            for r in replicas
        ]
        self._lay_out()
        self.show_labels()

    def on_resize(self) -> None:
        self._lay_out()

    def _lay_out(self) -> None:
        """The columns that fit the panel's width, and the rows in them."""
        table = self.query_one(DataTable)
        width, padding = self.content_region.width, table.cell_padding
        rows = [cells for _, cells in self._rows]
        shown = fitting(COLUMNS, OPTIONAL, rows, width, padding)
        if columns_width(shown, rows, padding) > width:  # `agent-1` for `lab-agent-1`
            rows = [{**cells, "container": self._short(key)} for key, cells in self._rows]
        selected = selected_key(table)
        set_columns(table, shown)
        keys = [key for key, _ in self._rows]
        keyed = [(key, [cells[c] for c in shown]) for key, cells in zip(keys, rows, strict=True)]
        sync_rows(table, keyed, selected)

    def _short(self, key: str) -> Text:
        name = self._replicas[key].name
        short = name.removeprefix(self._prefix) or name
        return _name(short, name in self._drift)

    def show_uptimes(self, now: datetime) -> None:
        """Advance the uptime column to `now`; only the cells whose text changes redraw."""
        table = self.query_one(DataTable)
        for key, cells in self._rows:
            cells["uptime"] = Text(uptime(self._replicas[key], now))
            if "uptime" in table.columns:
                update_cell(table, key, "uptime", cells["uptime"])

    def show_labels(self) -> None:
        """The image labels of the selected replica."""
        replica = self.selected
        lines = []
        if replica is not None:
            drift = self._drift.get(replica.name)
            if drift is not None:
                lines.append(Text(f"drift: {drift.reason}", style="yellow"))
            lines.append(Text(f"Image labels · {replica.image_ref}", style="bold"))
            lines += [
                Text.assemble((f"  {key}: ", "dim"), value) for key, value in image_labels(replica)
            ]
        text = Text("\n").join(lines)
        if not same_cell(text, self._labels):  # a redraw of the Static re-lays the screen out
            self._labels = text
            self.query_one("#labels", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.show_labels()


def _name(name: str, drifted: bool) -> Text:
    """The container name, marked when it runs something other than what was decided."""
    text = Text(name, style="bold")
    if drifted:
        text.append(" drift", style="bold yellow")
    return text
