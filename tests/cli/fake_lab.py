"""Every command's lab on one fake engine: a project of an empty compose file and an
agentlab.yaml with no monitor window, opened by the CLI's commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.cli import commands_base
from agentlab.engine.fake import FakeEngine
from agentlab.lab.facade import Lab
from agentlab.project.config import load_settings
from agentlab.project.location import Project


def serve(engine: FakeEngine, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the commands open their lab on `engine`, with project files under `root`."""
    compose = root / "compose.yaml"
    compose.write_text("services: {}\n", encoding="utf-8")
    (root / "agentlab.yaml").write_text("rollout: {monitor: 0}\n", encoding="utf-8")

    def open_lab(_: object) -> Lab:
        project = Project((compose,), load_settings(root), "lab")
        return commands_base.opened(Lab(project, engine_factory=engine.attach))

    monkeypatch.setattr(commands_base, "open_lab", open_lab)
    for module in ("commands", "rollout_commands", "canary_commands"):
        monkeypatch.setattr(f"agentlab.cli.{module}.open_lab", open_lab)


def web_lab(root: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """`web` at 1.0.0 on 2 replicas (2.0.0 present too), served to the commands."""
    engine = FakeEngine(nap=0.0)
    engine.add_image("lab/web:1.0.0")
    engine.add_image("lab/web:2.0.0")
    engine.add_service("web", "lab/web:1.0.0", replicas=2)
    serve(engine, root, monkeypatch)
    return engine
