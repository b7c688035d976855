"""What `rollout undo` says it does: it goes back to the version the interrupted rollout
came from, from the one it was heading to (it printed `rollout web ? -> 1.0.0`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.cli import main
from agentlab.engine.fake import FakeEngine
from agentlab.rollout.events import RolloutStarted
from agentlab.tui.rollout_view import advance
from tests.cli.fake_lab import web_lab


def interrupted_rollout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """`web` at 1.0.0 on 2 replicas, its rollout to 2.0.0 stopped by Ctrl-C midway."""
    engine = web_lab(tmp_path, monkeypatch)
    add_replicas = engine.add_replicas

    def interrupted(service: str, count: int, named: bool = True) -> list[str]:
        add_replicas(service, count, named)
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "add_replicas", interrupted)
    assert main.main(["rollout", "web", "--to", "2.0.0"]) == 130
    monkeypatch.setattr(engine, "add_replicas", add_replicas)
    return engine


def test_undo_says_where_it_goes_back_to_and_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = interrupted_rollout(tmp_path, monkeypatch)
    capsys.readouterr()
    assert main.main(["rollout", "undo", "web"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "?" not in first
    assert first.startswith("undo the rollout of web to 2.0.0: back to 1.0.0 ("), first
    assert set(engine.images_of("web")) == {"lab/web:1.0.0"}


@pytest.mark.parametrize(
    ("event", "line", "title"),
    [
        (
            RolloutStarted("web", "1.0.0", "2.0.0", 2, "rolling", "s"),
            "rollout web 1.0.0 -> 2.0.0 (2 replicas; s)",
            "Rolling out web: 1.0.0 → 2.0.0",
        ),
        (
            RolloutStarted("web", "", "2.0.0", 2, "rolling", "s"),
            "rollout web to 2.0.0 (from an unknown version) (2 replicas; s)",
            "Rolling out web: → 2.0.0 (from an unknown version)",
        ),
        (
            RolloutStarted("web", "2.0.0", "1.0.0", 2, "rolling", "s", undo=True),
            "undo the rollout of web to 2.0.0: back to 1.0.0 (2 replicas; s)",
            "Undoing web: back to 1.0.0",
        ),
        (
            RolloutStarted("web", "2.0.0", "", 2, "rolling", "s", undo=True),
            "undo the rollout of web to 2.0.0: back to the image it ran before (its version "
            "unknown) (2 replicas; s)",
            "Undoing web: back to its previous image",
        ),
    ],
)
def test_a_version_not_known_is_said_so(event: RolloutStarted, line: str, title: str) -> None:
    assert event.line() == line
    view = advance(None, event)
    assert view is not None and view.title == title
