"""The lab's registry in the header: its address and whether it answers, read off the UI
thread when the app starts and again on each tick; nothing for a lab without one."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agentlab.engine import registry as api
from agentlab.lab.facade import Lab
from agentlab.project.config import SETTINGS_FILE, load_settings
from agentlab.project.location import Project
from tests.tui.support import LabFake, fake_lab, make_app, started, wait_for

pytestmark = pytest.mark.asyncio


async def test_the_header_shows_where_the_registry_is_and_whether_it_answers(
    tmp_path: Path, fake: LabFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_lab(tmp_path, fake)
    with (tmp_path / SETTINGS_FILE).open("a", encoding="utf-8") as settings:
        settings.write("registry: {port: 5000}\n")
    lab = Lab(Project((tmp_path / "compose.yaml",), load_settings(tmp_path), "lab"), fake.attach)
    answer: list[int | None] = [200]
    asked_from: list[str] = []

    def status(address: str, timeout: float = 2.0) -> int | None:
        asked_from.append(f"{address} {threading.current_thread().name}")
        return answer[0]

    monkeypatch.setattr(api, "status", status)
    app = make_app(lab)
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot, app)

        def shown(text: str) -> bool:
            return app.title == f"agentlab · lab · registry 127.0.0.1:5000 {text}"

        await wait_for(pilot, lambda: shown("answers"))
        answer[0] = None  # its container stopped
        app.read_registry()  # what the tick does
        await wait_for(pilot, lambda: shown("does not answer"))
        answer[0] = 401  # a registry with authentication on its port
        app.read_registry()
        await wait_for(pilot, lambda: shown("answered HTTP 401"))
    assert asked_from and all(a.startswith("127.0.0.1:5000 ") for a in asked_from)
    assert threading.main_thread().name not in {a.split(" ", 1)[1] for a in asked_from}


async def test_no_registry_no_registry_in_the_header(lab: Lab) -> None:
    app = make_app(lab)
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot, app)
        assert app.title == "agentlab · lab" and app.registry is None
