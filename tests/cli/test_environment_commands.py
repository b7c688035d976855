"""`diff` and `promote --from --to` from the command line over fake engines (one per
environment's project, sharing their images); `promote SERVICE` alone stays the canary's."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from agentlab.cli import environment_commands, main
from agentlab.lab.environments import environment_lab
from agentlab.project.location import load_project
from tests.unit.test_environments import Engines, start, write_project


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Engines, list[str]]:
    monkeypatch.delenv("AGENTLAB_ENV", raising=False)
    engines = Engines()
    compose = write_project(tmp_path)
    project = load_project([str(compose)], "shop")
    start(engines, project, "staging", "1.4.1")
    start(engines, project, "prod", "1.3.0")
    monkeypatch.setattr(environment_commands, "engine_factory", engines)
    return engines, ["-f", str(compose), "-p", "shop"]


def test_diff_prints_a_row_per_service(
    setup: tuple[Engines, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, flags = setup
    assert main.main([*flags, "diff", "staging", "prod"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SERVICE", "STAGING", "PROD"]
    agent = next(line for line in lines if line.startswith("agent"))
    assert "1.4.1" in agent and "1.3.0" in agent and agent.endswith("differs")
    assert next(line for line in lines if line.startswith("gateway")).endswith("same")
    assert main.main([*flags, "diff", "staging", "qa"]) == 2
    assert "unknown environment 'qa'" in capsys.readouterr().err


def test_promote_from_to_rolls_the_target(
    setup: tuple[Engines, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    engines, flags = setup
    assert main.main([*flags, "promote", "agent", "--from", "staging"]) == 2
    assert "needs both --from and --to" in capsys.readouterr().err
    assert main.main([*flags, "promote", "agent", "--from", "staging", "--to", "prod"]) == 0
    assert "promoting agent 1.4.1" in capsys.readouterr().err
    prod = environment_lab(load_project([flags[1]], "shop", "prod"), "prod", engines)
    assert {r.version for r in prod.engine.replicas("agent")} == {"1.4.1"}
    assert main.main([*flags, "promote", "agent", "--from", "staging", "--to", "prod"]) == 0
    assert "nothing to promote" in capsys.readouterr().err


def test_promote_without_environments_is_the_canary_request(
    setup: tuple[Engines, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def request(args: argparse.Namespace) -> int:
        asked.append(args.service)
        return 0

    monkeypatch.setattr("agentlab.cli.rollout_commands.cmd_request", request)
    assert main.main([*setup[1], "promote", "agent"]) == 0
    assert asked == ["agent"]
