"""Zero lost requests for clients on the project's own network, with no proxy: a replica
answers the service's name only while ready, and leaves it before it is stopped. The
client resolves the name for every request, opens a new connection each time and never
retries (tests/support/netclient.py), on the webapp project (not the demo)."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from tests.conftest import REPO, LabRun, base_image_env, kill_while_out_of_the_name

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("webapp_images")]
CLIENT = REPO / "tests" / "support" / "netclient.py"
RPS = 50


class NetClient:
    """The client container on the lab's default network, sending RPS req/s to web."""

    def __init__(self, lab: LabRun) -> None:
        self.lab = lab
        self.name = f"{lab.project}-netclient"
        image = base_image_env()["AGENTLAB_BASE_IMAGE"]
        network = f"{lab.project}_default"
        command = ["python3", "/netclient.py", "web", "8000", str(RPS), "600", "/version"]
        lab.docker("run", "-d", "--name", self.name, "--network", network,
                   "-v", f"{CLIENT}:/netclient.py:ro", image, *command)  # fmt: skip

    def stop(self) -> dict[str, Any]:
        """Stop sending; what the client counted."""
        self.lab.docker("stop", "-t", "20", self.name)
        out = self.lab.docker("logs", self.name)
        self.lab.docker("rm", "-f", self.name)
        return dict(json.loads(out.strip().splitlines()[-1]))


def test_a_rolling_update_of_three_loses_no_request(webapp_lab: LabRun) -> None:
    assert webapp_lab("up", "--version", "1.0.0").code == 0
    client = NetClient(webapp_lab)
    try:
        time.sleep(1)  # some traffic on the old version first
        rolled = webapp_lab("rollout", "web", "--to", "1.1.0")
        assert rolled.code == 0, rolled.err
    finally:
        counts = client.stop()
    assert counts["failed"] == {}, (counts["details"], rolled.out)
    assert counts["ok"].get("1.0.0", 0) > 0 and counts["ok"].get("1.1.0", 0) > 0
    assert rolled.out.count("answers to web") == 3 and rolled.out.count("left the name web") == 3
    assert "were cut" not in rolled.out, rolled.out  # no replica left the name at another address


def test_an_automatic_rollback_from_a_never_healthy_image_loses_no_request(
    webapp_lab: LabRun,
) -> None:
    assert webapp_lab("up", "--version", "1.0.0").code == 0
    client = NetClient(webapp_lab)
    try:
        time.sleep(1)
        failed = webapp_lab("rollout", "web", "--to", "1.2.0", "--timeout", "8s")
        assert failed.code == 1, failed.err
        assert "rolled-back" in failed.err
    finally:
        counts = client.stop()
    assert counts["failed"] == {}, (counts["details"], failed.err)
    assert set(counts["ok"]) == {"1.0.0"}  # the never-healthy one never answered


def test_killed_while_a_replica_is_out_of_the_name_then_undone(webapp_lab: LabRun) -> None:
    assert webapp_lab("up", "--version", "1.0.0").code == 0
    kill_while_out_of_the_name(webapp_lab, "web", "1.1.0")
    before = webapp_lab("status", "--json").json()
    web = next(s for s in before["services"] if s["service"] == "web")
    # killed between a leave's disconnect and its connect: a replica on no network at all
    cut = next(
        r["container"] for r in web["replicas"] if r["answers_name"] and r["version"] == "1.0.0"
    )
    webapp_lab.docker("network", "disconnect", f"{webapp_lab.project}_default", cut)
    status = webapp_lab("status")
    assert f"{cut} does not answer to web" in status.out
    assert "was interrupted" in status.err
    scaled = webapp_lab("scale", "web", "4")  # the rollout's replicas: not scale's to change
    assert scaled.code == 1 and "was interrupted" in scaled.err, scaled.err
    undone = webapp_lab("rollout", "undo", "web")
    assert undone.code == 0, undone.err
    after = webapp_lab("status", "--json").json()
    web = next(s for s in after["services"] if s["service"] == "web")
    assert [(r["version"], r["answers_name"]) for r in web["replicas"]] == [("1.0.0", True)] * 3
    assert webapp_lab("down").code == 0
    alone = webapp_lab("scale", "web", "2")  # it started web without what it depends on
    assert alone.code == 2 and "the project is down" in alone.err, alone.err
    assert webapp_lab.containers() == []


def test_undo_removes_a_replica_whose_stop_the_killed_rollout_had_begun(
    webapp_lab: LabRun,
) -> None:
    """kill -9 while an old replica drained: the stop agentlab had asked for goes on in the
    engine. Undo joined that replica back, and it died under it (exit 1 on its exit 137,
    or 'undone' with 2 of 3 running)."""
    assert webapp_lab("up", "--version", "1.0.0").code == 0
    kill_while_out_of_the_name(webapp_lab, "web", "1.1.0")
    web = next(s for s in webapp_lab("status", "--json").json()["services"]
               if s["service"] == "web")  # fmt: skip
    [draining] = [r["container"] for r in web["replicas"] if not r["answers_name"]
                  and r["version"] == "1.0.0"]  # fmt: skip
    webapp_lab.docker("kill", "-s", "STOP", draining)  # a slow drain, as a busy app's
    stop = subprocess.Popen(["docker", "stop", "-t", "6", draining],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        undone = webapp_lab("rollout", "undo", "web")
        assert undone.code == 0, undone.err
    finally:
        stop.wait(60)  # had undo joined it back, this stop has ended it by now
    after = webapp_lab("status", "--json").json()
    web = next(s for s in after["services"] if s["service"] == "web")
    assert draining not in [r["container"] for r in web["replicas"]]
    assert [(r["version"], r["state"], r["answers_name"]) for r in web["replicas"]] == [
        ("1.0.0", "running", True)
    ] * 3
