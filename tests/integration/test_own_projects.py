"""Three projects modelled on docker/awesome-compose samples (flask, nginx-flask-mysql,
react-express-mongodb), as their users have them: services built from source, published
ports, secrets, several networks, depends_on conditions, bind mounts, non-semver images,
include/extends/env_file/profiles. Each goes through up, status, versions, images build,
a rollout to a new build, one built on demand, a rollback, history and down."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, LabRun, base_image_env, lab_run

pytestmark = pytest.mark.engine
PROJECTS = REPO / "tests" / "projects"


@pytest.fixture(scope="session")
def hand_built_images() -> None:
    """The image-only services' images, built by hand as a user would have them."""
    env = {**base_image_env()}
    env["BASE_IMAGE"] = env["AGENTLAB_BASE_IMAGE"]
    for script in ("nginx-flask-db/db/build.sh", "react-express-db/mongo/build.sh"):
        subprocess.run(["sh", str(PROJECTS / script)], env=env, check=True,
                       capture_output=True, timeout=600)  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Sample:
    """A test project: which service to roll, and where its answers come from."""

    directory: str
    service: str
    port_variable: str  # the published port the test reads the version through
    port_service: str
    target_port: int
    path: str


SAMPLES = {
    "flask": Sample("flask", "web", "WEB_PORT", "web", 8000, "/version"),
    "nginx-flask-db": Sample("nginx-flask-db", "backend", "PROXY_PORT", "proxy", 80, "/version"),
    "react-express-db": Sample(
        "react-express-db", "backend", "FRONTEND_PORT", "frontend", 3000, "/api/greeting"
    ),
}


def image_env() -> dict[str, str]:
    """The base image for the builds: $AGENTLAB_BASE_IMAGE, and BASE_IMAGE for the
    compose files' build args."""
    env = base_image_env()
    return {
        "AGENTLAB_BASE_IMAGE": env["AGENTLAB_BASE_IMAGE"],
        "BASE_IMAGE": env["AGENTLAB_BASE_IMAGE"],
    }


def run_on(sample: Sample, port: int) -> Iterator[LabRun]:
    env = image_env()
    ports = {"WEB_PORT": "0", "BACKEND_PORT": "0", "PROXY_PORT": "0", "FRONTEND_PORT": "0"}
    env.update({**ports, sample.port_variable: str(port)})
    yield from lab_run(PROJECTS / sample.directory / "compose.yaml", "t-own", env)


def version_seen(lab: LabRun, sample: Sample, settle: float = 30.0) -> str:
    """The version header of an answer through the sample's published port. The samples'
    proxies and backends have no healthcheck (ready = running, as for Compose), so a
    process still importing may refuse or drop the first requests: asked again until an
    upstream answers, for at most `settle` seconds."""
    port = lab.published(sample.port_service, sample.target_port)
    url = f"http://127.0.0.1:{port}{sample.path}"
    deadline = time.monotonic() + settle
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return str(answer.headers["X-Agent-Version"])
        except OSError as failure:  # HTTPError too: only the proxy's own 502 is retried
            not_yet = not isinstance(failure, urllib.error.HTTPError) or failure.code == 502
            if not not_yet or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def others_started(lab: LabRun, service: str) -> dict[str, str]:
    """Container id -> start time of every other service's containers."""
    found = {}
    for name in lab.containers():
        if f"-{service}-" in name:
            continue
        state = json.loads(lab.docker("container", "inspect", name))[0]
        found[state["Id"]] = state["State"]["StartedAt"]
    return found


def labels_of(lab: LabRun, image: str) -> dict[str, str]:
    found = json.loads(lab.docker("image", "inspect", image))
    return dict(found[0]["Config"]["Labels"] or {})


@pytest.mark.usefixtures("hand_built_images")
@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_sample_project_from_up_to_down(name: str) -> None:
    sample = SAMPLES[name]
    for lab in run_on(sample, free_port()):
        service, image = sample.service, f"{lab.project}-{sample.service}"
        up = lab("up")
        assert up.code == 0, up.err
        assert "[1/" in up.err and f"building {image}:latest" in up.err  # agentlab built it
        assert version_seen(lab, sample) == "dev"  # the Dockerfile's default VERSION
        status = lab("status", "--json").json()
        rows = {s["service"]: s for s in status["services"]}
        assert rows[service]["managed"] and rows[service]["image"] == f"{image}"
        assert all(s["ready"] == s["desired"] for s in status["services"])
        others = others_started(lab, service)

        built = lab("images", "build", "--service", service, "--version", "1.1.0")
        assert built.code == 0, built.err
        labels = labels_of(lab, f"{image}:1.1.0")
        assert labels["org.opencontainers.image.version"] == "1.1.0"
        assert labels["org.opencontainers.image.title"] == service
        marker = lab.docker("run", "--rm", "--entrypoint", "python3", f"{image}:1.1.0", "-c",
                            "import os; print(os.path.exists('/etc/dev-envs'))")  # fmt: skip
        assert marker.strip() == "False"  # the build section's target was honoured
        versions = lab("versions", service, "--json").json()[service]
        assert [v["version"] for v in versions] == ["1.1.0", "latest"]

        first = lab("rollout", service, "--to", "1.1.0")
        assert first.code == 0, first.err
        assert version_seen(lab, sample) == "1.1.0"

        second = lab("rollout", service, "--to", "1.2.0")  # not built yet: built on demand
        assert second.code == 0, second.err
        assert f"build {image}:1.2.0" in second.out
        assert version_seen(lab, sample) == "1.2.0"

        back = lab("rollback", service)
        assert back.code == 0, back.err
        assert "build " not in back.out  # still tagged locally: no rebuild
        assert version_seen(lab, sample) == "1.1.0"

        assert others_started(lab, service) == others  # the db was never restarted
        history = lab("history", service, "--json").json()
        assert [(h["version"], h["outcome"]) for h in history] == [
            ("latest", "complete"),  # `up` pinned nothing: the first rollout records it
            ("1.1.0", "complete"),
            ("1.2.0", "complete"),
            ("1.1.0", "complete"),
        ]
        assert history[0]["cause"] == "running before its first rollout"
        assert history[1]["image_id"] == history[3]["image_id"]

        anonymous = anonymous_volumes(lab)  # the sample's own, and its replicas' copies
        assert anonymous or name != "react-express-db"  # it mounts one over node_modules
        down = lab("down", "--volumes")
        assert down.code == 0, down.err
        assert lab.containers() == []
        left = lab.docker("volume", "ls", "-q").split()
        assert set(anonymous).isdisjoint(left)


def anonymous_volumes(lab: LabRun) -> list[str]:
    """The anonymous volumes mounted in the project's containers."""
    ids = lab.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={lab.project}")
    out = lab.docker("inspect", "--format", "{{json .Mounts}}", *ids.split())
    mounts = [mount for line in out.splitlines() for mount in json.loads(line)]
    return [m["Name"] for m in mounts if m["Type"] == "volume" and len(m["Name"]) == 64]


def test_a_fixed_host_port_rolls_stop_first_and_says_how_long_it_was_down() -> None:
    for lab in run_on(SAMPLES["flask"], free_port()):
        assert lab("up", "--version", "1.0.0").code == 0
        rolled = lab("rollout", "web", "--to", "1.1.0")
        assert rolled.code == 0, rolled.err
        assert "stop-first, expect downtime: fixed host port 127.0.0.1:" in rolled.out
        assert "s with no ready replica" in rolled.out
        refused = lab("rollout", "web", "--to", "1.0.0", "--max-surge", "1")
        assert refused.code == 2
        assert "cannot run a new replica beside an old one" in refused.err
        back = lab("rollout", "web", "--to", "1.0.0", "--deregistration-delay", "30s", "--json")
        assert back.code == 0, back.err
        kinds = [json.loads(line)["event"] for line in back.out.splitlines()]
        # nobody else answers the name: the lone replica answers until it stops (it left
        # first and waited the delay, which only made its stop time downtime)
        assert "replica_left" not in kinds
        assert kinds.index("replica_draining") < kinds.index("replica_started")


def test_a_busy_port_stops_up_before_anything_changes() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        for lab in run_on(SAMPLES["flask"], port):
            up = lab("up", "--version", "1.0.0")
            assert up.code == 2, up.err
            assert up.err.strip() == (
                f"error: port {port} (127.0.0.1) of service web is already in use "
                "(hint: stop what listens there, or run with WEB_PORT=0 for a free port)"
            )
            assert lab.containers() == []
            assert not (lab.state_dir / "override.yaml").exists()


def test_up_right_after_down_takes_the_port_its_answers_left_in_time_wait() -> None:
    """The port served requests, then `down`: the connections the engine's proxy closed
    hold the port in TIME-WAIT for a minute; the engine binds it again at once, and so
    `up` must not call it in use (a CI job's `down` then `up`)."""
    for lab in run_on(SAMPLES["flask"], free_port()):
        assert lab("up", "--version", "1.0.0").code == 0
        assert version_seen(lab, SAMPLES["flask"]) == "1.0.0"
        port = lab.published("web", 8000)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET /version HTTP/1.0\r\n\r\n")
            while client.recv(4096):  # until the server side closes first
                pass
        assert time_wait_on(port), "no connection in TIME-WAIT on the port: proves nothing"
        assert lab("down").code == 0
        again = lab("up", "--version", "1.0.0")
        assert again.code == 0, again.err


def time_wait_on(port: int) -> bool:
    """Whether a TCP connection of local port `port` is in TIME-WAIT (state 06)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(
        int(row.split()[1].rsplit(":", 1)[1], 16) == port and row.split()[3] == "06" for row in rows
    )


def test_a_container_holding_a_replica_name_stops_up_before_anything_changes() -> None:
    """A container outside the project (here `docker create`d by hand) named as Compose
    names the service's first replica: refused before any build, pin or container."""
    for lab in run_on(SAMPLES["flask"], 0):
        blocker = f"{lab.project}-web-1"
        subprocess.run(["docker", "create", "--name", blocker, image_env()["BASE_IMAGE"], "true"],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
        try:
            up = lab("up", "--version", "1.0.0")
            assert up.code == 2, up.err
            assert up.err.strip() == (
                f"error: container {blocker} (not of any compose project) already holds a name "
                f"service web needs (hint: remove or rename that container (docker rm -f "
                f"{blocker}), or run this lab under another project name (-p NAME))"
            )
            assert lab.containers() == []
            assert not (lab.state_dir / "override.yaml").exists()
        finally:
            subprocess.run(["docker", "rm", "-f", blocker], capture_output=True, timeout=60)


def git(directory: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(directory), "-c", "user.email=t@t", "-c", "user.name=t", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def version_built_from_git(lab: LabRun) -> str:
    """`images build --from-git` for web; the version label of the image it built."""
    done = lab("images", "build", "--service", "web", "--from-git")
    assert done.code == 0, done.err
    tag = next(word for word in done.err.split() if word.startswith(f"{lab.project}-web:"))
    return labels_of(lab, tag)["org.opencontainers.image.version"]


def test_versions_from_git_on_a_tagged_a_later_and_a_dirty_checkout(tmp_path: Path) -> None:
    project = tmp_path / "flask"
    shutil.copytree(PROJECTS / "flask", project)
    for lab in lab_run(project / "compose.yaml", "t-git", {"WEB_PORT": "0", **image_env()}):
        git(project, "init", "-q")
        git(project, "add", ".")
        git(project, "commit", "-q", "-m", "first")
        git(project, "tag", "v1.0.0")
        assert version_built_from_git(lab) == "1.0.0"
        (project / "app" / "NOTES").write_text("later\n")
        git(project, "add", ".")
        git(project, "commit", "-q", "-m", "second")
        commit = git(project, "rev-parse", "--short", "HEAD")
        assert version_built_from_git(lab) == f"1.0.1-dev.1+g{commit}"
        app = project / "app" / "app.py"
        app.write_text(app.read_text() + "\n")
        assert version_built_from_git(lab) == f"1.0.1-dev.1+g{commit}.dirty"
        versions = lab("versions", "web", "--json").json()["web"]
        assert [v["version"] for v in versions] == [
            "1.0.0",
            f"1.0.1-dev.1_g{commit}",
            f"1.0.1-dev.1_g{commit}.dirty",
        ]
