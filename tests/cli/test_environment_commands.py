"""`diff` and `promote --from --to` from the command line over fake engines (one per
environment's project, sharing their images); `promote SERVICE` alone stays the canary's."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from agentlab.cli import environment_commands, main
from agentlab.lab.environments import environment_lab
from agentlab.project.location import load_project
from tests.cli.test_dry_run import files
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
    assert main.main([*flags, "diff", "staging", "dev"]) == 0  # dev never ran
    assert "note: dev runs nothing (it is down: agentlab -e dev up starts it)" in (
        capsys.readouterr().err
    )
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


def test_promote_dry_run_prints_the_targets_rollout_and_changes_nothing(
    setup: tuple[Engines, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    engines, flags = setup
    prod = engines.by_project["shop-prod"]
    root = Path(flags[1]).parent
    before = files(root)
    promote = [*flags, "promote", "agent", "--from", "staging", "--to", "prod", "--dry-run"]
    assert main.main(promote) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("plan: promote agent 1.4.1 (")
    assert lines[0].endswith(
        " from staging to prod, as lab/agent:1.4.1 (dry run: nothing is changed)"
    )
    assert lines[1] == "plan: agent 1.3.0 -> 1.4.1, 2 replica(s), rolling"
    assert lines[2].startswith("  1. ")
    assert main.main([*promote, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["from_environment"], plan["to_environment"]) == ("staging", "prod")
    assert plan["rollout"]["to"] == "lab/agent:1.4.1" and plan["rollout"]["steps"]
    mutating = {"up", "add_replicas", "stop_replica", "remove_replica", "join_name", "leave_name"}
    assert [call for call, _ in prod.calls if call in mutating] == []
    assert set(prod.images_of("agent")) == {"lab/agent:1.3.0"}
    assert files(root) == before  # no override, history or lock written


def test_promote_dry_run_makes_the_checks_of_promote(
    setup: tuple[Engines, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    engines, flags = setup
    staging = engines.by_project["shop-staging"]
    staging.containers.clear()
    staging.start("agent", "lab/agent:1.4.1-dev.1", 1)  # prod refuses a prerelease
    promote = [*flags, "promote", "agent", "--from", "staging", "--to", "prod"]
    assert main.main([*promote, "--dry-run"]) == 2
    refused = capsys.readouterr().err
    assert "prod refuses the prerelease 1.4.1-dev.1" in refused
    assert main.main(promote) == 2
    assert capsys.readouterr().err == refused
    assert main.main([*flags, "promote", "agent", "--dry-run"]) == 2  # the canary's has none
    assert "--dry-run plans a promote across environments" in capsys.readouterr().err
