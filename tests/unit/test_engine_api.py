"""The Engine API read path: which socket the CLI would use, and how answers map."""

from __future__ import annotations

import hashlib
import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from agentlab.common.errors import EngineUnavailable, OperationFailed
from agentlab.engine.api import ApiTransport, local_socket
from agentlab.engine.clone import CloneRequest
from agentlab.engine.compose import ComposeEngine
from agentlab.engine.model import ContainerImage
from agentlab.lab.drift_environments import EnvironmentRun, find_environment_drift


def with_context(tmp_path: Path, name: str, host: str, current: bool = False) -> Path:
    """A docker config dir holding one context (as `docker context create` writes it)."""
    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    doc = {"Name": name, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}
    (meta / "meta.json").write_text(json.dumps(doc))
    if current:
        (tmp_path / "config.json").write_text(json.dumps({"currentContext": name}))
    return tmp_path


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "/var/run/docker.sock"),
        ({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}, "/run/user/1000/docker.sock"),
        ({"DOCKER_HOST": "tcp://10.0.0.2:2376"}, None),
        ({"DOCKER_HOST": "ssh://me@box"}, None),
        ({"DOCKER_HOST": ""}, "/var/run/docker.sock"),
        ({"DOCKER_CONTEXT": "default"}, "/var/run/docker.sock"),
        ({"DOCKER_CONTEXT": "missing"}, None),
    ],
)
def test_socket_from_the_environment(
    tmp_path: Path, env: dict[str, str], expected: str | None
) -> None:
    assert local_socket({"DOCKER_CONFIG": str(tmp_path), **env}) == expected


def test_socket_from_the_current_docker_context(tmp_path: Path) -> None:
    config = with_context(
        tmp_path, "desktop-linux", "unix:///Users/me/.docker/run/docker.sock", True
    )
    assert local_socket({"DOCKER_CONFIG": str(config)}) == "/Users/me/.docker/run/docker.sock"
    remote = with_context(tmp_path / "r", "remote", "tcp://box:2376")
    assert local_socket({"DOCKER_CONFIG": str(remote), "DOCKER_CONTEXT": "remote"}) is None
    # DOCKER_HOST wins over any context, as it does for the CLI
    env = {"DOCKER_CONFIG": str(config), "DOCKER_HOST": "unix:///tmp/d.sock"}
    assert local_socket(env) == "/tmp/d.sock"


class FakeDaemon(http.server.BaseHTTPRequestHandler):
    """Answers like the engine: a body per path (JSON, or bytes as they are), 404 for the
    rest."""

    answers: ClassVar[dict[str, tuple[int, object]]] = {}
    seen: ClassVar[list[str]] = []
    bodies: ClassVar[list[object]] = []

    def do_GET(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.bodies.append(json.loads(self.rfile.read(length)))
        status, body = self.answers.get(self.path.partition("?")[0], (404, {"message": "nope"}))
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.do_GET()

    def do_DELETE(self) -> None:
        self.do_GET()

    def log_message(self, *_: object) -> None:
        """Quiet."""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ApiTransport]:
    path = str(tmp_path / "docker.sock")
    server = socketserver.UnixStreamServer(path, FakeDaemon)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeDaemon.seen = []
    FakeDaemon.bodies = []
    try:
        yield ApiTransport(path, timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_reads_json_and_404_is_none(daemon: ApiTransport) -> None:
    FakeDaemon.answers = {
        "/containers/json": (200, [{"Id": "c2"}, {"Id": "c1"}]),
        "/containers/c1/json": (200, {"Id": "c1", "State": {"Status": "running"}}),
        "/images/lab/agent:1.0/json": (200, {"Id": "sha256:1"}),
    }
    assert daemon.containers(["com.docker.compose.project=lab"]) == [{"Id": "c2"}, {"Id": "c1"}]
    query = parse_qs(urlsplit(FakeDaemon.seen[0].split()[1]).query)
    assert query["all"] == ["1"]
    assert json.loads(query["filters"][0]) == {"label": ["com.docker.compose.project=lab"]}
    assert daemon.inspect_containers(["c1", "c2"]) == [{"Id": "c1", "State": {"Status": "running"}}]
    assert daemon.inspect_images(["lab/agent:1.0", "lab/agent:9.9"]) == [{"Id": "sha256:1"}]


def test_engine_errors_are_one_line(daemon: ApiTransport) -> None:
    FakeDaemon.answers = {"/images/json": (500, {"message": "layer store broken"})}
    with pytest.raises(OperationFailed, match="layer store broken"):
        daemon.image_ids("lab/agent")


def test_no_engine_on_the_socket_is_engine_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="not reachable"):
        ApiTransport(str(tmp_path / "absent.sock"), timeout=5).containers([])


def test_stop_remove_and_kill_send_what_the_cli_would(daemon: ApiTransport) -> None:
    FakeDaemon.answers = {
        "/containers/c1/stop": (204, ""),
        "/containers/c1": (204, ""),
        "/containers/c1/kill": (409, {"message": "container c1 is not running"}),
    }
    daemon.stop("c1", timeout=10)
    daemon.remove("c1")
    daemon.remove("gone")  # 404: someone removed it already, which is what we wanted
    with pytest.raises(OperationFailed, match="is not running"):
        daemon.kill("c1")
    with pytest.raises(OperationFailed, match="nope"):  # stopping what is not there fails
        daemon.stop("gone", timeout=0.5)
    assert FakeDaemon.seen == [
        "POST /containers/c1/stop?t=10",
        "DELETE /containers/c1?force=1&v=1",
        "DELETE /containers/gone?force=1&v=1",
        "POST /containers/c1/kill",
        "POST /containers/gone/stop?t=1",  # a half-second drain is not rounded down to a kill
    ]


def clone_of_c1(networks: dict[str, dict[str, object]]) -> CloneRequest:
    return CloneRequest("lab-agent-2", {"Image": "lab/agent:1.0"}, networks)


def test_create_and_start_sends_the_request_then_connects_then_starts(daemon: ApiTransport) -> None:
    FakeDaemon.answers = {
        "/containers/create": (201, {"Id": "c2", "Warnings": []}),
        "/networks/back/connect": (200, ""),
        "/containers/c2/start": (204, ""),
    }
    endpoint: dict[str, object] = {"Aliases": ["agent"]}
    assert daemon.create_and_start(clone_of_c1({"back": endpoint})) == "c2"
    assert FakeDaemon.seen == [
        "POST /containers/create?name=lab-agent-2",
        "POST /networks/back/connect",
        "POST /containers/c2/start",
    ]
    assert FakeDaemon.bodies == [
        {"Image": "lab/agent:1.0"},
        {"Container": "c2", "EndpointConfig": endpoint},
    ]


def test_a_created_container_that_does_not_start_is_removed(daemon: ApiTransport) -> None:
    FakeDaemon.answers = {
        "/containers/create": (201, {"Id": "c2", "Warnings": []}),
        "/containers/c2/start": (500, {"message": "port is already allocated"}),
        "/containers/c2": (204, ""),
    }
    with pytest.raises(OperationFailed, match="port is already allocated"):
        daemon.create_and_start(clone_of_c1({}))
    assert FakeDaemon.seen[-1] == "DELETE /containers/c2?force=1&v=1"


def frame(stream: int, text: str) -> bytes:
    """One frame of the engine's multiplexed log stream."""
    data = text.encode()
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def test_logs_are_demultiplexed_in_the_order_written(daemon: ApiTransport) -> None:
    stream = frame(1, "starting\n") + frame(2, "warning: slow\n") + frame(1, "listening\n")
    FakeDaemon.answers = {"/containers/c1/logs": (200, stream)}
    assert daemon.logs("c1", 3) == "starting\nwarning: slow\nlistening\n"
    assert FakeDaemon.seen == ["GET /containers/c1/logs?stdout=1&stderr=1&tail=3"]


def test_logs_of_a_tty_container_come_as_they_are(daemon: ApiTransport) -> None:
    FakeDaemon.answers = {"/containers/c1/logs": (200, b"plain line\r\n")}
    assert daemon.logs("c1", 5) == "plain line\r\n"


def test_logs_of_a_removed_container_are_none(daemon: ApiTransport) -> None:
    FakeDaemon.answers = {}
    assert daemon.logs("gone", 5) is None


def test_a_replica_that_wrote_nothing_has_an_empty_log_tail(
    daemon: ApiTransport, tmp_path: Path
) -> None:
    engine = ComposeEngine([tmp_path / "compose.yaml"], "p", transport=daemon)
    FakeDaemon.answers = {"/containers/quiet/logs": (200, b"")}
    assert engine.logs_tail("quiet") == ""
    assert engine.logs_tail("gone") == "(logs unavailable: no such container)"


def test_a_container_whose_tag_moved_is_compared_by_the_tag_it_was_created_with(
    daemon: ApiTransport, tmp_path: Path
) -> None:
    """Docker lists a container by its image id once its tag names other bytes: the tag
    (so the version of an image without a version label) comes from its inspect."""
    old, new = f"sha256:{'a' * 64}", f"sha256:{'b' * 64}"
    labels = {"com.docker.compose.service": "web", "com.docker.compose.project": "p"}

    def listed(cid: str, image: str, image_id: str) -> dict[str, object]:
        return {"Id": cid, "Image": image, "ImageID": image_id, "State": "running",
                "Labels": labels}  # fmt: skip

    FakeDaemon.answers = {
        "/containers/json": (200, [listed("c1", old, old), listed("c2", "lab/web:1.0", new)]),
        "/containers/c1/json": (200, {"Id": "c1", "Config": {"Image": "lab/web:1.0"}}),
    }
    engine = ComposeEngine([tmp_path / "compose.yaml"], "p", transport=daemon)
    found = engine.running_images()
    assert [(c.image_ref, c.image_id) for c in found] == [
        ("lab/web:1.0", old),
        ("lab/web:1.0", new),
    ]
    assert [s.split("?")[0] for s in FakeDaemon.seen] == [
        "GET /containers/json",
        "GET /containers/c1/json",  # only the one listed by its image id
    ]
    here = [ContainerImage("web", "lab/web:1.0", new, None)]
    [drift] = find_environment_drift("dev", ["web"], here, [EnvironmentRun("prod", (found[0],))])
    assert drift.subject == "prod" and "web 1.0 runs image bbbbbbbbbbbb here (dev)" in drift.reason


def test_a_probe_passes_on_exit_0_and_fails_on_another_code_or_a_stopped_container(
    daemon: ApiTransport,
) -> None:
    FakeDaemon.answers = {
        "/containers/c1/exec": (201, {"Id": "e1"}),
        "/exec/e1/start": (200, b""),
        "/exec/e1/json": (200, {"Running": False, "ExitCode": 0}),
    }
    assert daemon.probe("c1", ["true"], timeout=2) is True
    FakeDaemon.answers["/exec/e1/json"] = (200, {"Running": False, "ExitCode": 1})
    assert daemon.probe("c1", ["false"], timeout=2) is False
    FakeDaemon.answers["/containers/c1/exec"] = (409, {"message": "container is not running"})
    assert daemon.probe("c1", ["true"], timeout=2) is False


def test_a_probe_on_an_engine_that_does_not_answer_is_no_failed_probe(tmp_path: Path) -> None:
    """An engine restarting mid-rollout must not fail a healthy replica (and roll back)."""
    with pytest.raises(EngineUnavailable, match="not reachable"):
        ApiTransport(str(tmp_path / "absent.sock"), timeout=5).probe("c1", ["true"], timeout=2)
