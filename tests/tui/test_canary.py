"""The canary panel on the fake engine (no traffic layer: shares by replica count): the
steps with the current one marked, the weight bar, per-version traffic side by side (a
fake meter), and promote / abort / set weight from the keys, in the footer while a
canary runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from agentlab.lab.canary_meter import CanaryMeter
from agentlab.traffic.metrics import VersionFigures
from agentlab.tui.canary_actions import NO_LAYER
from agentlab.tui.screens.weight import WeightDialog
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


async def test_w_asks_for_a_weight_refuses_bad_input_then_moves_the_canary_which_holds(
    tmp_path: Path,
) -> None:
    fake = make_fake()
    app = make_app(make_lab(tmp_path, fake, canary=PAUSED))
    async with app.run_test(size=(120, 40)) as pilot:
        try:  # a failure must not leave the canary holding: it would never end
            await started(pilot, app)
            assert not {"o", "a", "w"} & set(app.screen.active_bindings)  # no canary: no keys
            await pilot.press("w")
            await pilot.pause()
            assert not isinstance(app.screen, WeightDialog)
            await roll_from_picker(pilot, app, "1.3.0")
            await wait_for(pilot, lambda: app.rollout is not None and app.rollout.canary_at == 1)
            await wait_for(pilot, lambda: {"o", "a", "w"} <= set(app.screen.active_bindings))
            await pilot.press("w")
            await wait_for(pilot, lambda: isinstance(app.screen, WeightDialog))
            dialog = app.screen
            field = dialog.query_one(Input)
            assert field.value == "50"  # the weight now
            for bad in ("101", "thirty"):
                field.value = bad
                await pilot.press("enter")
                await pilot.pause()
                error = str(dialog.query_one("#weight-error", Static).render())
                assert error == f"a canary weight is a whole percent from 0 to 100, not '{bad}'"
                assert app.screen is dialog  # still asking; nothing sent
            assert versions_of(fake) == ["1.2.0", "1.2.0", "1.3.0", "1.3.0"]
            field.value = "30"
            await pilot.press("enter")

            def held() -> bool:
                """the canary held at the weight set by hand"""
                view = app.rollout
                return view is not None and view.held != "" and view.weight == 33

            await wait_for(pilot, held)  # 1 canary beside 2 stable: 33 % by replica count
            assert versions_of(fake) == ["1.2.0", "1.2.0", "1.3.0"]
            panel = app.query_one(RolloutPanel)
            text = str(panel.query_one("#canary").render())
            assert "Held set weight 30% by hand, held until promote, abort or another" in text
            traffic = str(panel.query_one("#canary-traffic").render())
            assert traffic == f"Traffic {NO_LAYER}"  # the fake lab has no traffic layer
            await pilot.press("o")
            await finished(pilot, app, "complete")
            assert versions_of(fake) == ["1.3.0", "1.3.0"]
            await wait_for(pilot, lambda: not {"o", "a", "w"} & set(app.screen.active_bindings))
        finally:
            app.pause_flag.set()


def growing_counters() -> Callable[[], dict[str, VersionFigures]]:
    """Every reading: 90 more requests to 1.2.0 (within 50 ms), 10 more to 1.3.0 (one a
    500, one slow: within 350 ms)."""
    readings = 0

    def read() -> dict[str, VersionFigures]:
        nonlocal readings
        readings += 1
        n = readings
        stable = VersionFigures({"2xx": 90 * n}, {0.05: 90 * n, 0.35: 90 * n}, 90 * n)
        canary = VersionFigures({"2xx": 9 * n, "5xx": n}, {0.05: 9 * n, 0.35: 10 * n}, 10 * n)
        return {"1.2.0": stable, "1.3.0": canary}

    return read


async def test_the_panel_shows_stable_and_canary_traffic_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agentlab.tui.app.TRAFFIC_TICK", 0.2)
    fake = make_fake()
    lab = make_lab(tmp_path, fake, canary=PAUSED)
    ticks = iter(float(2 * n) for n in range(1000))  # two seconds between readings
    meter = CanaryMeter(growing_counters(), lambda: next(ticks))
    monkeypatch.setattr(lab, "canary_meter", lambda service: meter if service == "agent" else None)
    app = make_app(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await roll_from_picker(pilot, app, "1.3.0")
        box = app.query_one(RolloutPanel).query_one("#canary-traffic", Static)
        await wait_for(pilot, lambda: "requests/s" in str(box.render()))
        lines = [" ".join(line.split()) for line in str(box.render()).splitlines()]
        assert lines == [
            "Traffic stable 1.2.0 canary 1.3.0 over 2.0s",
            "requests/s 45.0 5.0",
            "5xx 0 (0.0%) 1 (10.0%)",
            "p99 <= 50 ms <= 350 ms",
        ]
        await pilot.press("a")
        await finished(pilot, app, "rolled-back")
