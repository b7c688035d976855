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
from agentlab.tui.widgets.tables import same_cell, selected_key, sync_rows, update_cell

COLUMNS = ("container", "version", "image", "state", "health", "uptime")


class ReplicasPanel(Vertical):
    """A replicas table over a short list of image labels."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._replicas: dict[str, Replica] = {}
        self._drift: dict[str, Drift] = {}  # replica name -> its drift
        self._labels = Text()

    def compose(self) -> ComposeResult:
        yield DataTable[Text](id="replica-table", cursor_type="row")
        yield Static(id="labels")

    def on_mount(self) -> None:
        self.border_title = "Replicas"
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column.upper(), key=column)

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
        rows = [
            (
                r.id,
                [
                    _name(r, r.name in self._drift),
                    Text(r.version or "-"),
                    Text(short_image(r, status.digests), style="dim"),
                    coloured(r.state),
                    coloured(replica_health(r)) if r.running else Text("-", style="dim"),
                    Text(uptime(r, now)),
                ],
            )
            for r in replicas
        ]
        sync_rows(self.query_one(DataTable), rows)
        self.show_labels()

    def show_uptimes(self, now: datetime) -> None:
        """Advance the uptime column to `now`; only the cells whose text changes redraw."""
        table = self.query_one(DataTable)
        for key, replica in self._replicas.items():
            update_cell(table, key, "uptime", Text(uptime(replica, now)))

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


def _name(replica: Replica, drifted: bool) -> Text:
    """The container name, marked when it runs something other than what was decided."""
    name = Text(replica.name, style="bold")
    if drifted:
        name.append(" drift", style="bold yellow")
    return name
