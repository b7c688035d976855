"""`up --dry-run` on the in-memory engine: the checks of `up` (same error, same exit code),
the plan it prints (rolls, starts, builds) as lines and as JSON, and nothing touched: no
mutating engine call, no file written under the project (override, history, lock)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentlab.cli import main
from agentlab.engine.fake import FakeEngine
from agentlab.engine.model import BuildSection, PublishedPort
from tests.cli.fake_lab import serve

MUTATING = {
    "up", "add_replicas", "join_name", "leave_name", "probe", "stop_replica",
    "remove_replica", "kill_replica", "build_image", "build_service",
    "remove_image_if_unused", "down",
}  # fmt: skip


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """`web` runs 2 replicas of 1.0.0 (2.0.0 local too); `worker` is pinned to 1.0.0 and
    not running (1.1.0 local too); `api` is built from its build section and not built."""
    engine = FakeEngine(nap=0.0)
    for ref in ("lab/web:1.0.0", "lab/web:2.0.0", "lab/worker:1.0.0", "lab/worker:1.1.0"):
        engine.add_image(ref)
    engine.add_image("base:1")
    engine.add_service("web", "lab/web:1.0.0", replicas=2)
    engine.pin("worker", "lab/worker:1.0.0")
    context = tmp_path / "api"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM base:1\nARG VERSION\n", encoding="utf-8")
    engine.pin("api", "lab/api:1.0.0")
    engine.builds["api"] = BuildSection(str(context))
    serve(engine, tmp_path, monkeypatch)
    return engine


def files(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes: what a dry run must leave as it was."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def mutations(engine: FakeEngine) -> list[str]:
    return [call for call, _ in engine.calls if call in MUTATING]


def test_dry_run_of_up_prints_the_plan_and_changes_nothing(
    fake: FakeEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = files(tmp_path)
    args = ["up", "--set", "web=2.0.0", "--set", "worker=1.1.0", "--dry-run"]
    assert main.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "plan: up lab (dry run: nothing is changed)"
    assert "  web: roll 1.0.0 -> 2.0.0, 2 replica(s), rolling" in lines
    assert any(line.startswith("    1. ") for line in lines)  # the rollout's steps
    assert "  worker: start 1.0.0 -> 1.1.0 [lab/worker:1.1.0]" in lines
    assert "  api: start 1.0.0 (unchanged) [lab/api:1.0.0]" in lines
    assert "build lab/api:1.0.0 (api's build section)" in lines
    assert mutations(fake) == []
    assert files(tmp_path) == before  # no override, no state.db, no lock file
    assert main.main(args[:-1]) == 0  # and `up` does what the plan said
    assert set(fake.images_of("web")) == {"lab/web:2.0.0"}
    assert fake.images_of("worker") == ["lab/worker:1.1.0"]
    assert [args[1] for args in fake.called("build_service")] == ["lab/api:1.0.0"]


def test_dry_run_json_is_one_document(fake: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["up", "--set", "web=2.0.0", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    services = {entry["service"]: entry for entry in plan["services"]}
    assert plan["dry_run"] is True and plan["project"] == "lab"
    assert services["web"]["action"] == "roll"
    assert (services["web"]["from"], services["web"]["to"]) == ("lab/web:1.0.0", "lab/web:2.0.0")
    rollout = services["web"]["rollout"]
    assert (rollout["strategy"], rollout["replicas"]) == ("rolling", 2)
    assert rollout["to_version"] == "2.0.0"
    assert rollout["steps"] and rollout["steps"][0].startswith("1. ")
    assert services["worker"]["action"] == "start" and services["worker"]["rollout"] is None
    assert services["worker"]["to_version"] == "1.0.0"  # unchanged
    assert plan["builds"] == [
        {"service": "api", "version": "1.0.0", "image": "lab/api:1.0.0", "from": "build_section"}
    ]
    assert plan["fetches"] == []
    assert plan["traffic_layer"] == {"services": [], "moving": [], "proxy_image": None}
    assert mutations(fake) == []


@pytest.mark.parametrize(
    "problem", ["bad version", "unknown service", "busy port", "name clash", "missing base"]
)
def test_dry_run_refuses_what_up_refuses_with_the_same_line(
    problem: str,
    fake: FakeEngine,
    busy_port: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["up"]
    if problem == "bad version":
        args += ["--set", "web=9.9.9"]
    elif problem == "unknown service":
        args += ["--set", "nope=1.0.0"]
    elif problem == "busy port":
        fake.host_ports["worker"] = (PublishedPort(80, busy_port, "127.0.0.1"),)
    elif problem == "name clash":
        fake.foreign["lab-worker-1"] = "other"
    else:
        (tmp_path / "api" / "Dockerfile").write_text("FROM absent:1\n", encoding="utf-8")
    before = files(tmp_path)
    assert main.main([*args, "--dry-run"]) == 2
    dry = capsys.readouterr().err
    assert main.main(args) == 2
    assert capsys.readouterr().err == dry
    assert dry.startswith("error: ") and dry.count("\n") == 1
    assert mutations(fake) == [] and files(tmp_path) == before


def test_a_running_unchanged_service_is_kept(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(["up", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  web: running, kept 1.0.0 (unchanged) [lab/web:1.0.0]" in out
    assert "roll" not in out
