"""Services whose replicas compete for host ports, on a real engine. Published on a range
(`"127.0.0.1:A-B:9000"`, each replica takes one port of it): with a port to spare, a new
replica the engine cannot give a port (another service holds the last one) is a failure
rolled back, leaving nothing half-changed; with one to spare, it surges (each old replica
gone before the next new one takes its port), and a surge of 2 is refused before anything
changes; with no port to spare, the rollout goes stop-first, said before it starts. On
the host network: a lone replica rolls stop-first (a new one beside it could not bind
the port)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LabRun, base_image_env, lab_run
from tests.support.inline_project import write_context

pytestmark = pytest.mark.engine

APP = """\
import http.server, os, signal, sys
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("VERSION", "?").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
port = int(os.environ.get("PORT", "9000"))
http.server.ThreadingHTTPServer((os.environ.get("HOST", ""), port), Answer).serve_forever()
"""
COMPOSE = """\
services:
  holder:  # another service of the project, on the range's last port
    image: ${BASE_IMAGE}
    pull_policy: never
    command: ["python3", "-m", "http.server", "9000"]
    ports: ["127.0.0.1:${HELD_PORT}:9000"]
  web:
    image: ${COMPOSE_PROJECT_NAME}-web:1.0.0
    pull_policy: never
    build:
      context: web
      args:
        BASE_IMAGE: ${BASE_IMAGE}
    deploy:
      replicas: 2
    ports: ["127.0.0.1:${WEB_PORTS}:9000"]
    depends_on: [holder]
  host:
    image: ${COMPOSE_PROJECT_NAME}-web:1.0.0
    pull_policy: never
    network_mode: host
    environment: {HOST: 127.0.0.1, PORT: "${HOST_PORT}"}
    profiles: [host]
"""


def free_ports(count: int) -> int:
    """The first of `count` consecutive free loopback ports."""
    for first in range(20000, 60000, 97):
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise AssertionError("no free port range")


@pytest.fixture
def ranged_lab(tmp_path: Path) -> Iterator[LabRun]:
    write_context(tmp_path / "web", APP)
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    yield from lab_run(tmp_path / "compose.yaml", "t-range")


def write_env(lab: LabRun, web_ports: str, held: int, host_port: int = 0) -> None:
    base = base_image_env()["AGENTLAB_BASE_IMAGE"]
    env = f"COMPOSE_PROJECT_NAME={lab.project}\nBASE_IMAGE={base}\nHOST_PORT={host_port}\n"
    (lab.compose_file.parent / ".env").write_text(f"{env}WEB_PORTS={web_ports}\nHELD_PORT={held}\n")


def web_replicas(lab: LabRun) -> list[tuple[str, str, str]]:
    """(name, tag, state) of every web container, running or not."""
    rows = [
        (name, *lab.docker("inspect", "-f", "{{.Config.Image}} {{.State.Status}}", name).split())
        for name in lab.containers()
        if "-web-" in name
    ]
    return [(name, image.rsplit(":", 1)[1], state) for name, image, state in rows]


def test_host_ports_a_range_and_the_host_network(
    ranged_lab: LabRun,
) -> None:
    lab = ranged_lab
    first = free_ports(5)  # a range of 3, one for the host network service, one held
    write_env(lab, f"{first}-{first + 2}", first + 2)  # 3 ports, the last one held
    up = lab("up")
    assert up.code == 0, up.err
    built = lab("images", "build", "--service", "web", "--version", "1.1.0")
    assert built.code == 0, built.err
    before = web_replicas(lab)
    assert [(tag, state) for _, tag, state in before] == [("1.0.0", "running")] * 2

    refused = lab("rollout", "web", "--to", "1.1.0")
    assert refused.code == 1, refused.err
    last = refused.err.strip().splitlines()
    assert "a new web replica (1.1.0) refused: docker engine:" in refused.out
    assert any(line.startswith("error: rolled-back: a new web replica") for line in last), last
    assert "with no ready replica" not in refused.out  # the old ones served throughout
    assert web_replicas(lab) == before  # the created container is gone, the old ones kept
    status = lab("status", "--json")
    assert status.code == 0 and "interrupted" not in status.err, status.err
    history = json.loads(lab("history", "web", "--json").out)
    assert history[-1]["outcome"] == "rolled-back"

    assert lab("down").code == 0
    write_env(lab, f"{first}-{first + 1}", first + 2)  # 2 ports for 2 replicas
    up = lab("up")
    assert up.code == 0, up.err
    rolled = lab("rollout", "web", "--to", "1.1.0")
    assert rolled.code == 0, rolled.err
    assert "stop-first, one replica fewer at a time: host port range" in rolled.out
    assert [(tag, state) for _, tag, state in web_replicas(lab)] == [("1.1.0", "running")] * 2

    assert lab("down").code == 0
    write_env(lab, f"{first}-{first + 1}", first + 2, host_port=first + 3)
    lab.env["COMPOSE_PROFILES"] = "host"
    up = lab("up")
    assert up.code == 0, up.err
    host = lab("rollout", "host", "--to", "1.1.0")  # its new replica would exit: port in use
    assert host.code == 0, host.out + host.err
    assert "stop-first, expect downtime: network_mode host" in host.out

    assert lab("down").code == 0
    del lab.env["COMPOSE_PROFILES"]
    write_env(lab, f"{first}-{first + 2}", first + 4)  # a port to spare for 2 replicas
    up = lab("up")
    assert up.code == 0, up.err
    before = web_replicas(lab)
    assert [tag for _, tag, _ in before] == ["1.1.0"] * 2
    too_wide = lab("rollout", "web", "--to", "1.0.0", "--max-surge", "2")
    assert too_wide.code == 2, too_wide.out + too_wide.err
    assert "range has 1 port to spare, too few for a surge of 2" in too_wide.err
    assert web_replicas(lab) == before
    surged = lab("rollout", "web", "--to", "1.0.0")
    assert surged.code == 0, surged.out + surged.err
    assert "stop-first" not in surged.out
    assert [(tag, state) for _, tag, state in web_replicas(lab)] == [("1.0.0", "running")] * 2
