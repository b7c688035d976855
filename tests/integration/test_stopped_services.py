"""A project whose containers were all stopped ("the laptop rebooted"), and an environment
that is down, on the real engine: rollout (and its dry run) and scale refuse
before anything changes (exit 2), drift does not say they run; `up` starts them again."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.conftest import WEBAPP, LabRun
from tests.integration.test_environments import environment_lab

pytestmark = pytest.mark.engine


def states(lab: LabRun, project: str | None = None) -> dict[str, str]:
    """Every container of the project (`project`: another environment's): its state."""
    out = lab.docker("ps", "-a", "--filter",
                     f"label=com.docker.compose.project={project or lab.project}",
                     "--format", "{{.ID}} {{.State}}")  # fmt: skip
    return dict(line.split() for line in out.splitlines())


def stop_all(lab: LabRun) -> None:
    """`docker stop` of every container of the project, as a reboot leaves them."""
    lab.docker("stop", "-t", "1", *states(lab))


@pytest.mark.usefixtures("webapp_images")
def test_a_project_whose_containers_all_stopped_is_refused_then_up_starts_it(
    webapp_lab: LabRun,
) -> None:
    assert webapp_lab("up", "--version", "1.0.0").code == 0
    stop_all(webapp_lab)
    before = states(webapp_lab)
    assert set(before.values()) == {"exited"}
    line = "error: the project is down: web has no running replica (3 stopped) (hint: agentlab up"
    for args in (["rollout", "web", "--to", "1.1.0", "--dry-run"],
                 ["rollout", "web", "--to", "1.1.0", "--strategy", "recreate"],
                 ["scale", "web", "4"]):  # fmt: skip
        refused = webapp_lab(*args)
        assert refused.code == 2 and refused.err.startswith(line), (args, refused.err)
        assert states(webapp_lab) == before
    drift = webapp_lab("drift")  # it said the 4 stopped replicas run what was decided
    assert drift.code == 0, drift.out + drift.err
    assert "web: no replica running (agentlab up starts it)" in drift.out.splitlines()
    assert re.fullmatch(
        r"no drift: \d service\(s\), no replica running", drift.out.splitlines()[-1]
    )
    assert states(webapp_lab) == before
    started = webapp_lab("up")
    assert started.code == 0, started.err
    web = next(s for s in webapp_lab("status", "--json").json()["services"]
               if s["service"] == "web")  # fmt: skip
    assert [(r["version"], r["state"]) for r in web["replicas"]] == [("1.0.0", "running")] * 3


@pytest.fixture
def staging(webapp_images: None) -> Iterator[LabRun]:
    """The webapp project, its staging environment never started (its project goes after)."""
    yield from environment_lab(WEBAPP, "t-stopped", ["staging"])


def test_a_rollout_in_an_environment_that_is_down_is_refused(staging: LabRun) -> None:
    """It started web alone in staging (exit 0, 'start 2 new'), without the rest."""
    refused = staging("-e", "staging", "rollout", "web", "--to", "1.0.0")
    assert refused.code == 2, refused.out + refused.err
    assert refused.err.splitlines()[-1] == (
        "error: the project is down: web has no running replica "
        "(hint: agentlab -e staging up --set web=1.0.0 starts it at 1.0.0)"
    )
    assert states(staging, f"{staging.project}-staging") == {}
