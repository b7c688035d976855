"""The same foundation flow on a compose project that is not the demo lab (no agentlab.yaml)."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agentlab.engine.compose import ComposeEngine
from tests.conftest import WEBAPP, LabRun, Result, base_image_env, lab_run
from tests.integration.test_dry_run import snapshot
from tests.integration.test_rollout import Sampler

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("webapp_images")]


def web_versions(lab: LabRun) -> list[str]:
    """Ask every web replica directly on its own published loopback port."""
    versions = []
    for name in lab.containers():
        if not name.startswith(f"{lab.project}-web-"):
            continue
        port = lab.docker("port", name, "8000").split()[0].rsplit(":", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=5) as reply:
            versions.append(json.loads(reply.read())["version"])
    return versions


def test_up_status_and_down_on_a_second_project(webapp_lab: LabRun) -> None:
    webapp_lab.env["WEBAPP_CACHE_PORT"] = "0"
    first = webapp_lab("up", "--version", "1.0.0", "--json")
    assert first.code == 0, first.err
    services = {s["service"]: s for s in first.json()["services"]}
    assert services["web"]["ready"] == 3 and services["cache"]["managed"]
    assert web_versions(webapp_lab) == ["1.0.0"] * 3

    # --version applies to the service with a build context (web), not to cache
    second = webapp_lab("up", "--version", "~1.1")
    assert second.code == 0, second.err
    assert web_versions(webapp_lab) == ["1.1.0"] * 3

    webapp_lab.env["WEBAPP_CACHE_PORT"] = "16379"
    status = webapp_lab("status", "--json").json()
    cache = next(s for s in status["services"] if s["service"] == "cache")
    assert cache["surge_blockers"] and "fixed host port" in cache["surge_blockers"][0]

    assert webapp_lab("down", "--volumes").code == 0  # the anonymous volumes too
    assert webapp_lab.containers() == []


def test_built_version_carries_oci_labels(webapp_lab: LabRun) -> None:
    labels = json.loads(webapp_lab.docker("image", "inspect", "agentlab-test/web:1.1.0"))[0]
    labels = labels["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "1.1.0"
    assert labels["org.opencontainers.image.title"] == "web"


def test_unknown_service_is_bad_input(webapp_lab: LabRun) -> None:
    result = webapp_lab("up", "--set", "agent=1.0.0")
    assert result.code == 2
    assert "unknown service 'agent'" in result.err
    assert webapp_lab.containers() == []
    assert not (webapp_lab.state_dir / "override.yaml").exists()


def test_rollout_honours_the_projects_update_config(webapp_lab: LabRun) -> None:
    webapp_lab.env["WEBAPP_CACHE_PORT"] = "0"
    assert webapp_lab("up", "--version", "1.0.0").code == 0
    plan = webapp_lab("rollout", "web", "--to", "1.1.0", "--dry-run")
    assert plan.code == 0, plan.err
    assert "wait 1s before the next batch" in plan.out  # update_config.delay
    assert "monitor new replicas for 3s" in plan.out  # update_config.monitor
    before = snapshot(webapp_lab, webapp_lab.project, webapp_lab.state_dir)
    history = webapp_lab("history", "--json").out
    up_plan = webapp_lab("up", "--set", "web=1.1.0", "--dry-run")  # up rolls web: the same plan
    assert up_plan.code == 0, up_plan.err
    assert "  web: roll 1.0.0 -> 1.1.0, 3 replica(s), rolling" in up_plan.out.splitlines()
    assert "wait 1s before the next batch" in up_plan.out
    assert "  cache: running, kept 1.0.0 (unchanged)" in up_plan.out
    proxy = base_image_env().get("AGENTLAB_PROXY_IMAGE", "haproxy:2.6")
    webapp_lab.env["AGENTLAB_PROXY_IMAGE"] = proxy
    layered = webapp_lab("up", "--traffic-layer", "web", "--dry-run", "--json")
    assert layered.code == 0, layered.err
    assert layered.json()["traffic_layer"] == {"services": ["web"], "moving": ["web"],
                                              "proxy_image": proxy}  # fmt: skip
    assert snapshot(webapp_lab, webapp_lab.project, webapp_lab.state_dir) == before
    assert webapp_lab("history", "--json").out == history

    result = webapp_lab("rollout", "web", "--to", "1.1.0", "--json")
    assert result.code == 0, result.err
    started = json.loads(result.out.splitlines()[0])
    assert started["event"] == "rollout_started"
    assert "parallelism 1, start-first" in started["settings"]
    assert web_versions(webapp_lab) == ["1.1.0"] * 3

    # 1.2.0 never turns healthy: update_config.failure_action rollback puts 1.1.0 back
    failed = webapp_lab("rollout", "web", "--to", "1.2.0")
    assert failed.code == 1
    assert "rolled-back" in failed.err
    assert web_versions(webapp_lab) == ["1.1.0"] * 3


def test_cli_flags_override_the_file(webapp_lab: LabRun) -> None:
    webapp_lab.env["WEBAPP_CACHE_PORT"] = "0"
    assert webapp_lab("up", "--version", "1.0.0").code == 0
    plan = webapp_lab(
        "rollout",
        "web",
        "--to",
        "1.1.0",
        "--dry-run",
        "--max-surge",
        "3",
        "--max-unavailable",
        "0",
        "--monitor",
        "0s",
        "--delay",
        "0s",
    )
    assert plan.code == 0, plan.err
    assert "start 3 new (6 containers, 3 ready)" in plan.out
    assert "wait 1s" not in plan.out


def test_forced_rebuild_removes_the_image_it_replaced_unless_a_container_uses_it(
    webapp_lab: LabRun,
) -> None:
    def image_id(ref: str) -> str:
        return webapp_lab.docker("image", "inspect", "--format", "{{.Id}}", ref).strip()

    def exists(image: str) -> bool:
        probe = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
        return probe.returncode == 0

    rebuild = ("images", "build", "--service", "web", "--version", "1.1.0", "--force")
    builder = replace(webapp_lab, env={**webapp_lab.env, **base_image_env()})
    unused = image_id("agentlab-test/web:1.1.0")
    done = builder(*rebuild)
    assert done.code == 0, done.err
    assert "removed the image agentlab-test/web:1.1.0 was before" in done.err
    assert not exists(unused)  # no <none> image left behind by --force
    assert webapp_lab("up", "--set", "web=1.1.0").code == 0
    running = image_id("agentlab-test/web:1.1.0")
    assert builder(*rebuild).code == 0
    assert exists(running)  # a container still runs it: kept
    assert webapp_lab("down", "--volumes").code == 0  # the anonymous volumes too
    webapp_lab.docker("image", "rm", running)  # this test's own leftover


def _as_made(document: dict[str, Any]) -> dict[str, Any]:
    """A replica's inspect document without what differs between any two replicas."""
    config = {k: v for k, v in document["Config"].items() if k != "Hostname"}
    labels = dict(config["Labels"])
    labels.pop("com.docker.compose.container-number")
    networks = {
        name: sorted(
            a for a in net["Aliases"] if a not in (document["Name"][1:], document["Id"][:12])
        )
        for name, net in document["NetworkSettings"]["Networks"].items()
    }
    return {"Config": {**config, "Labels": labels}, "HostConfig": document["HostConfig"],
            "Aliases": networks}  # fmt: skip


def test_copied_replicas_are_the_replicas_compose_makes(
    webapp_lab: LabRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    webapp_lab.env["WEBAPP_CACHE_PORT"] = "0"
    monkeypatch.setenv("WEBAPP_CACHE_PORT", "0")
    assert webapp_lab("up", "--version", "1.0.0").code == 0
    engine = ComposeEngine(
        [webapp_lab.compose_file], webapp_lab.project, webapp_lab.state_dir / "override.yaml"
    )
    made = engine.add_replicas("web", 1)  # by Compose: the model for the next ones

    def no_compose(*_: object, **__: object) -> None:
        raise AssertionError("copies must not run Compose")

    monkeypatch.setattr(engine, "up", no_compose)
    copies = engine.add_replicas("web", 2)
    assert len(made) == 1 and len(copies) == 2
    documents = json.loads(webapp_lab.docker("container", "inspect", *made, *copies))
    model, *copied = documents
    sibling = json.loads(webapp_lab.docker("container", "inspect", f"{webapp_lab.project}-web-1"))
    for document in copied:  # as Compose made the model (scale) and replica 1 (up)
        assert _as_made(document) == _as_made(model) == _as_made(sibling[0])
        assert document["State"]["Running"]
        assert document["Config"]["Hostname"] == document["Id"][:12]
    numbers = [int(d["Config"]["Labels"]["com.docker.compose.container-number"]) for d in documents]
    assert numbers == [4, 5, 6] and [d["Name"] for d in documents] == [
        f"/{webapp_lab.project}-web-{n}" for n in numbers
    ]
    ports = {d["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"] for d in documents}
    volumes = {m["Name"] for d in documents for m in d["Mounts"] if m["Type"] == "volume"}
    assert len(ports) == 3 and len(volumes) == 3  # each its own ephemeral port and volume

    # Compose takes the copies for its own: the same `up` recreates nothing
    compose = ["docker", "compose", "-f", str(webapp_lab.compose_file), "-f",
               str(webapp_lab.state_dir / "override.yaml"), "-p", webapp_lab.project]  # fmt: skip
    subprocess.run([*compose, "up", "-d", "--scale", "web=6"], env=webapp_lab.env,
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    again = json.loads(webapp_lab.docker("container", "inspect", *made, *copies))
    assert [d["State"]["StartedAt"] for d in again] == [d["State"]["StartedAt"] for d in documents]


@pytest.fixture
def webapp_copy(tmp_path: Path) -> Iterator[LabRun]:
    """The webapp project copied, so that its compose file may be edited."""
    copy = tmp_path / "webapp"
    shutil.copytree(WEBAPP.parent, copy, ignore=shutil.ignore_patterns(".agentlab"))
    yield from lab_run(copy / "compose.yaml", "t-web-edit", {"WEBAPP_CACHE_PORT": "0"})


def test_an_image_edited_in_the_compose_file_is_rolled_out_by_up(webapp_copy: LabRun) -> None:
    """A user edits `image:` under running replicas and runs `agentlab up`: a rollout,
    never fewer than 3 ready replicas in the name (Compose recreated all 3 at once)."""
    lab = webapp_copy
    assert lab("up").code == 0
    compose = lab.compose_file.read_text(encoding="utf-8")
    edited = compose.replace("agentlab-test/web:1.0.0", "agentlab-test/web:1.1.0")
    assert edited != compose
    lab.compose_file.write_text(edited, encoding="utf-8")
    plan = lab("up", "--dry-run")
    assert "web: roll 1.0.0 -> 1.1.0" in plan.out, plan.out + plan.err
    up = up_sampled(lab, code=0)
    assert "rolling web 1.0.0 -> 1.1.0" in up.err
    made_from = [d["Config"]["Image"] for d in web_documents(lab)]
    assert made_from == ["agentlab-test/web:1.1.0"] * 3
    assert "web: running, kept 1.1.0 (unchanged)" in lab("up", "--dry-run").out


def edit_web(lab: LabRun, environment: str) -> None:
    """Give web an `environment:` in the copy's compose file (replacing one given before)."""
    compose = lab.compose_file.read_text(encoding="utf-8")
    kept = "\n".join(line for line in compose.splitlines() if "environment: {WEB_" not in line)
    edited = kept.replace("    stop_grace_period: 5s\n", "    stop_grace_period: 5s\n"
                          f"    environment: {{{environment}}}\n", 1)  # fmt: skip
    assert edited != kept
    lab.compose_file.write_text(edited + "\n", encoding="utf-8")


def up_sampled(lab: LabRun, code: int) -> Result:
    """`up` exiting `code` with never fewer than 3 ready web replicas in the name."""
    with Sampler(lab, "web") as sampler:
        up = lab("up")
    assert up.code == code, up.err
    least, around = sampler.least_healthy()
    assert least >= 3, f"{around}\n{up.err}"
    return up


def web_documents(lab: LabRun) -> list[dict[str, Any]]:
    """The inspect documents of the copy's web containers."""
    label = f"label=com.docker.compose.project={lab.project}"
    ids = lab.docker(
        "ps", "-q", "--filter", label, "--filter", "label=com.docker.compose.service=web"
    )
    documents: list[dict[str, Any]] = json.loads(lab.docker("inspect", *ids.split()))
    return documents


def web_environment(lab: LabRun) -> list[str]:
    """Each web replica's WEB_EDITED and WEB_HEALTHY, as `EDITED/HEALTHY`."""
    values = [dict(e.split("=", 1) for e in d["Config"]["Env"]) for d in web_documents(lab)]
    return sorted(f"{v.get('WEB_EDITED', '-')}/{v['WEB_HEALTHY']}" for v in values)


def test_a_configuration_edited_under_running_replicas_is_rolled_out_by_up(
    webapp_copy: LabRun, request: pytest.FixtureRequest
) -> None:
    """A user gives web an env_file under running replicas: `up` rolls it out one replica
    at a time (Compose recreated all 3 at once, and the plan said 'kept'), and then has
    nothing to do (Compose's `config --hash` differs from its own label for a service
    with an env_file: Compose's own answer is asked). An edit of the env_file alone that
    fails the health check is rolled back to the configuration that ran. An orphan (a
    service gone from the files, its container still running) hid the edit: Compose
    refuses a dry run that names it."""
    lab = webapp_copy
    assert lab("up").code == 0
    labels = [f"com.docker.compose.{key}={value}" for key, value in (
        ("project", lab.project), ("service", "retired"), ("container-number", "1"),
        ("oneoff", "False"))]  # fmt: skip
    orphan = f"{lab.project}-retired-1"  # compose down --remove-orphans leaves it: by hand
    request.addfinalizer(lambda: subprocess.run(["docker", "rm", "-f", orphan],
                                                capture_output=True, check=False))  # fmt: skip
    lab.docker("run", "-d", "--name", orphan, "--init",
               *(a for label in labels for a in ("--label", label)),
               base_image_env()["AGENTLAB_BASE_IMAGE"], "sleep", "3600")  # fmt: skip
    env_file = lab.compose_file.parent / "web.env"
    env_file.write_text("WEB_EDITED=yes\n", encoding="utf-8")
    compose = lab.compose_file.read_text(encoding="utf-8")
    lab.compose_file.write_text(compose.replace(
        "    stop_grace_period: 5s\n", "    stop_grace_period: 5s\n    env_file: web.env\n", 1
    ), encoding="utf-8")  # fmt: skip
    drift = lab("drift")
    assert drift.code == 1, drift.out + drift.err
    assert drift.out.count("runs a configuration the compose files no longer give") == 3
    plan = lab("up", "--dry-run")
    assert "web: roll 1.0.0 (configuration edited), 3 replica(s)" in plan.out, plan.out
    assert "cache: running, kept" in plan.out, plan.out
    up = up_sampled(lab, code=0)
    assert "rolling web 1.0.0 (configuration edited)" in up.err
    assert web_environment(lab) == ["yes/true"] * 3
    assert "web: running, kept 1.0.0 (unchanged)" in lab("up", "--dry-run").out
    assert lab("drift").code == 0
    refused = lab("rollback", "web")  # the files give the configuration: only they go back
    assert refused.code == 2 and "changed its configuration only" in refused.err, refused.err

    env_file.write_text("WEB_EDITED=no\nWEB_HEALTHY=false\n", encoding="utf-8")
    failed = up_sampled(lab, code=1)
    assert "rolled back to 1.0.0" in failed.err, failed.err
    assert web_environment(lab) == ["yes/true"] * 3


def test_copies_of_a_replica_keep_a_configuration_the_files_no_longer_give(
    webapp_copy: LabRun,
) -> None:
    """The way back of a configuration rollout: a copier reads a replica before the files
    change; its copies, made after, have that replica's environment and config hash, and
    Compose takes them for the old configuration."""
    lab = webapp_copy
    assert lab("up").code == 0
    engine = ComposeEngine([lab.compose_file], lab.project, lab.state_dir / "override.yaml")
    (model, *_) = [r for r in engine.replicas("web") if r.running]
    copier = engine.copier("web", model.id)
    edit_web(lab, "WEB_EDITED: 'yes'")
    assert model.name in engine.stale_replicas(["web"])
    (copy,) = copier(1, False)
    (made,) = [r for r in engine.replicas("web") if r.id == copy]
    assert made.config_hash == model.config_hash and made.named is False
    assert web_environment(lab) == ["-/true"] * 4


def test_a_copy_of_a_replica_compose_recreated_gets_its_own_anonymous_volume(
    webapp_copy: LabRun,
) -> None:
    """Compose recreates a replica on its predecessor's anonymous volume (named in its
    create request); a copy of it gets a volume of its own, as a fresh replica does."""
    lab = webapp_copy
    assert lab("up").code == 0  # pins nothing: no override file
    compose = ["docker", "compose", "-f", str(lab.compose_file), "-p", lab.project]
    done = subprocess.run([*compose, "up", "-d", "--no-deps", "--force-recreate", "web"],
                          env=lab.env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    engine = ComposeEngine([lab.compose_file], lab.project, lab.state_dir / "override.yaml")
    (model, *_) = [r for r in engine.replicas("web") if r.running]
    (copy,) = engine.copier("web", model.id)(1, False)

    def cache_volume(container: str) -> str:
        mounts = json.loads(lab.docker("inspect", "--format", "{{json .Mounts}}", container))
        return str(next(m["Name"] for m in mounts if m["Destination"] == "/var/cache/web"))

    assert cache_volume(copy) != cache_volume(model.id)


def test_an_image_edited_in_the_compose_file_after_a_rollback_is_rolled_out(
    webapp_copy: LabRun,
) -> None:
    """After a rollout and a rollback, agentlab's pin masked every later edit of web's
    `image:` in the compose file: `up` said 'kept 1.0.0 (unchanged)', drift nothing."""
    lab = webapp_copy
    assert lab("up").code == 0
    assert lab("rollout", "web", "--to", "1.1.0").code == 0
    assert lab("rollback", "web").code == 0  # pinned at 1.0.0 again
    compose = lab.compose_file.read_text(encoding="utf-8")
    edited = compose.replace("agentlab-test/web:1.0.0", "agentlab-test/web:1.1.0", 1)
    lab.compose_file.write_text(edited, encoding="utf-8")
    plan = lab("up", "--dry-run")
    assert "web: roll 1.0.0 -> 1.1.0" in plan.out, plan.out
    up = lab("up")
    assert up.code == 0, up.err
    web = next(s for s in lab("status", "--json").json()["services"] if s["service"] == "web")
    assert [r["version"] for r in web["replicas"]] == ["1.1.0"] * 3
    assert "web: running, kept 1.1.0 (unchanged)" in lab("up", "--dry-run").out


def test_traffic_to_a_service_with_a_host_port_per_replica_is_refused(
    webapp_copy: LabRun,
) -> None:
    """`traffic: {service: web, port: 8000}` sent every request to one replica's own port,
    so killing that replica looked like an outage: refused, pointing to the traffic layer."""
    lab = webapp_copy
    (lab.compose_file.parent / "agentlab.yaml").write_text(
        "traffic: {service: web, port: 8000, path: /version}\n"
    )
    assert lab("up").code == 0
    sent = lab("traffic", "--duration", "1")
    assert sent.code == 2, sent.out + sent.err
    assert sent.err.strip() == (
        "error: web publishes port 8000 on each of its 3 replicas: traffic would reach one of "
        "them (hint: agentlab up --traffic-layer web spreads it over them)"
    )
    assert lab("scale", "web", "1").code == 0  # one replica: its port is the service's
    assert lab("traffic", "--duration", "1", "--rps", "5").code == 0
