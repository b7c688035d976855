"""The canary panel on the fake engine (no traffic layer: shares by replica count): the
steps with the current one marked, the weight bar, and promote / abort from the keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.tui.widgets.rollout import RolloutPanel
from tests.tui.support import fake_lab as make_lab
from tests.tui.support import (
    finished,
    make_app,
    make_fake,
    roll_from_picker,
    started,
    versions_of,
    wait_for,
)

pytestmark = pytest.mark.asyncio
PAUSED = {"agent": {"steps": [50, "pause"]}}  # agent rolls out as a canary, waits at 50 %


async def test_the_panel_shows_the_steps_and_weight_and_o_promotes(tmp_path: Path) -> None:
    fake = make_fake()
    app = make_app(make_lab(tmp_path, fake, canary=PAUSED))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await roll_from_picker(pilot, app, "1.3.0")
        panel = app.query_one(RolloutPanel)

        def pausing() -> bool:
            """the canary at its pause"""
            return app.rollout is not None and app.rollout.canary_at == 1

        await wait_for(pilot, pausing)
        await pilot.pause()
        text = str(panel.query_one("#canary").render())
        assert "1. set weight 50%" in text and "2. pause until promoted" in text
        assert "3. set weight 100%" in text
        assert "1.2.0 50%" in text and "50% 1.3.0" in text and "approximately" in text
        assert versions_of(fake) == ["1.2.0", "1.2.0", "1.3.0", "1.3.0"]  # 50 %: 2 beside 2
        await pilot.press("o")
        await finished(pilot, app, "complete")
        assert versions_of(fake) == ["1.3.0", "1.3.0"]


async def test_a_aborts_a_canary_back_to_the_stable_version(tmp_path: Path) -> None:
    fake = make_fake()
    app = make_app(make_lab(tmp_path, fake, canary=PAUSED))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await roll_from_picker(pilot, app, "1.3.0")
        await wait_for(pilot, lambda: app.rollout is not None and app.rollout.canary_at == 1)
        await pilot.press("a")
        await finished(pilot, app, "rolled-back")
        assert app.rollout is not None and "aborted on request" in app.rollout.message
        assert versions_of(fake) == ["1.2.0", "1.2.0"]


async def test_p_pauses_a_canary_where_it_is_and_c_resumes_it(tmp_path: Path) -> None:
    fake = make_fake()
    app = make_app(make_lab(tmp_path, fake, canary=PAUSED))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await roll_from_picker(pilot, app, "1.3.0")
        await wait_for(pilot, lambda: app.rollout is not None and app.rollout.canary_at == 1)
        await pilot.press("p")
        await finished(pilot, app, "paused")
        assert versions_of(fake) == ["1.2.0", "1.2.0", "1.3.0", "1.3.0"]  # left as it was
        await pilot.press("c")  # resumes at the pause, which waits for promote again
        await wait_for(pilot, lambda: app.rollout is not None and app.rollout.canary_at == 1
                       and app.rollout.running)  # fmt: skip
        await pilot.press("o")
        await finished(pilot, app, "complete")
        assert versions_of(fake) == ["1.3.0", "1.3.0"]
