"""80x24 (a projector): the columns that matter fit; the less important ones go first."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from agentlab.lab.facade import Lab
from agentlab.state.override import REGISTRY_SERVICE
from tests.tui.support import LabFake, make_app, remeasure, replica_rows, row, started

pytestmark = pytest.mark.asyncio


def fits(table: DataTable[object]) -> bool:
    """Every column is drawn inside the table's region."""
    return sum(column.get_render_width(table) for column in table.ordered_columns) <= (
        table.content_region.width
    )


async def test_services_and_replicas_fit_80_columns(lab: Lab, fake: LabFake) -> None:
    fake.add_image("registry:2")
    fake.add_service(REGISTRY_SERVICE, "registry:2", replicas=1)
    app = make_app(lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await remeasure(pilot, app)
        services = app.query_one("#services", DataTable)
        assert [str(c.label) for c in services.ordered_columns] == [
            "SERVICE", "VERSION", "READY", "HEALTH"
        ]  # fmt: skip
        assert fits(services)
        assert row(app, "#services", "agent") == ["agent", "1.2.0", "2/2", "healthy"]
        assert row(app, "#services", REGISTRY_SERVICE)[0] == "(registry)"
        replicas = app.query_one("#replica-table", DataTable)
        assert [str(c.label) for c in replicas.ordered_columns] == [
            "CONTAINER", "VERSION", "STATE", "HEALTH"
        ]  # fmt: skip
        assert fits(replicas)
        assert replica_rows(app)["agent-1"] == ["agent-1", "1.2.0", "running", "healthy"]
        await pilot.resize_terminal(160, 40)
        await remeasure(pilot, app)
        assert len(replicas.ordered_columns) == 6  # every column again, the full names
        assert "lab-agent-1" in replica_rows(app)
