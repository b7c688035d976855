"""The plan `up` runs (and `up --dry-run` prints) in environments, on fake engines: a
rollout planned for the service as `up` will run it (its fixed port made ephemeral
first), and a locked image planned for fetching without a pull."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.cli.plans import up_lines
from agentlab.engine import registry as registry_api
from agentlab.project.location import Project, load_project
from agentlab.state.lockfile import LockedService, LockFile, write_lockfile
from tests.cli.test_dry_run import files
from tests.unit.test_environments import Engines, start, write_project
from tests.unit.test_lock_policy import DGW, ENVIRONMENTS


@pytest.fixture(autouse=True)
def no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTLAB_ENV", raising=False)
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)


@pytest.fixture
def engines() -> Engines:
    found = Engines()
    found.images.add_image("lab/gateway:1.1.0")
    return found


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return load_project([str(write_project(tmp_path, "primary: [agent]\n" + ENVIRONMENTS))], "shop")


def test_a_roll_is_planned_for_the_service_as_up_runs_it(
    engines: Engines, project: Project, tmp_path: Path
) -> None:
    """gateway publishes the fixed port 8080: stop-first in the project itself; in staging
    `up` makes it ephemeral before it rolls, so the roll can surge."""
    plain = start(engines, project, "default", "1.3.0")
    (fixed,) = plain.plan_up(None, {"gateway": "1.1.0"}).rolls
    assert fixed.note.startswith("stop-first, expect downtime: fixed host port")
    staging = start(engines, project, "staging", "1.3.0")
    before = files(tmp_path)
    planned = staging.plan_up(None, {"gateway": "1.1.0"})
    (surging,) = planned.rolls
    assert surging.note == "" and surging.settings.max_surge == "1"
    assert files(tmp_path) == before
    staging.up(None, {"gateway": "1.1.0"}, timeout=5)  # runs that plan
    assert staging.current_image("gateway") == "lab/gateway:1.1.0"
    assert staging.services["gateway"].fixed_host_ports == ()


def test_a_locked_image_not_here_is_planned_for_fetching_not_pulled(
    engines: Engines, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote, d150 = "127.0.0.1:5000/lab/agent", f"sha256:{'e' * 64}"
    pulled: list[str] = []
    monkeypatch.setattr(registry_api, "manifest_digest", lambda *_a, **_k: d150)
    monkeypatch.setattr(registry_api, "pull", pulled.append)
    entry = LockedService("1.5.0", f"{remote}@{d150}", d150)
    engines.images.add_image("lab/gateway:1.0.0", digest=DGW)  # here: nothing to fetch
    gateway = LockedService("1.0.0", f"lab/gateway@{DGW}", DGW)
    locked = {"staging": {"agent": entry, "gateway": gateway}}
    write_lockfile(tmp_path / "agentlab.lock", LockFile(locked))
    prod = start(engines, project, "prod", "1.3.0")
    before = files(tmp_path)
    planned = prod.plan_up(None, {"agent": "1.5.0"})
    assert planned.fetches == {"agent": entry}
    lines = up_lines(planned)
    assert f"fetch agent 1.5.0: {remote}@{d150} (locked, not here)" in lines
    assert "  agent: roll 1.3.0 -> 1.5.0, 2 replica(s), rolling" in lines
    assert f"    first fetch {remote}@{d150} (locked, not here)" in lines
    assert pulled == [] and files(tmp_path) == before
