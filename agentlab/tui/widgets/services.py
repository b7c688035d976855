"""The services table: desired version, ready/total replicas and health per service."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from agentlab.lab.status import LabStatus
from agentlab.state.override import REGISTRY_SERVICE
from agentlab.tui.view import coloured, service_health, tag_of
from agentlab.tui.widgets.tables import selected_key, sync_rows

OWN_SERVICES = {REGISTRY_SERVICE: "(registry)"}  # agentlab's own, as the table names them


class ServicesTable(DataTable[Text]):
    """One row per service (unmanaged ones dim, agentlab's own in parentheses:
    `(registry)`); the cursor selects the service the actions apply to."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.border_title = "Services"
        for column in ("service", "version", "ready", "health"):
            self.add_column(column.upper(), key=column)

    @property
    def selected(self) -> str | None:
        return selected_key(self)

    def show(self, status: LabStatus, select: str | None) -> None:
        """Show every service; move the cursor to `select` when given."""
        rows = []
        for svc in status.services:
            name = _name(svc.name, svc.managed)
            if any(drift.service == svc.name for drift in status.drift):
                name.append(" drift", style="bold yellow")
            ready = Text(f"{svc.ready}/{len(svc.replicas)}")
            rows.append(
                (svc.name, [name, Text(tag_of(svc.image)), ready, coloured(service_health(svc))])
            )
        sync_rows(self, rows)
        keys = [key for key, _ in rows]
        if select in keys and select != self.selected:
            self.move_cursor(row=keys.index(select))


def _name(service: str, managed: bool) -> Text:
    if service in OWN_SERVICES:
        return Text(OWN_SERVICES[service], style="dim")
    return Text(service, style="bold" if managed else "dim")
