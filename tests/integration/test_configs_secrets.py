"""A service with Compose configs and secrets (a `content:` config, a file secret), on a
real engine: Compose writes them into a container as it starts it, so the new replicas of
a rollout must be started by Compose too (started by the engine alone, the config was
missing, the new replica exited and every rollout rolled back); and since Compose starts
every stopped replica of the service with them, a stopped one refuses the rollout first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LabRun, base_image_env, lab_run
from tests.support.inline_project import write_context

pytestmark = pytest.mark.engine

APP = """\
import http.server, os, signal, sys
SECRET = open("/run/secrets/token").read().strip()
MODE = open("/etc/app.conf").read().strip()
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{os.environ.get('VERSION')} {MODE} {SECRET}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
http.server.ThreadingHTTPServer(("", 9000), Answer).serve_forever()
"""
COMPOSE = """\
services:
  web:
    image: ${COMPOSE_PROJECT_NAME}-web:1.0.0
    pull_policy: never
    build:
      context: web
      args:
        BASE_IMAGE: ${BASE_IMAGE}
    deploy:
      replicas: 2
    secrets: [token]
    configs:
      - source: mode
        target: /etc/app.conf
    healthcheck:
      test:
        - CMD
        - python3
        - -c
        - "import urllib.request as u; u.urlopen('http://127.0.0.1:9000/', timeout=1)"
      interval: 1s
      retries: 3
      start_period: 5s
secrets:
  token:
    file: ./token.txt
configs:
  mode:
    content: "mode=fast"
"""


@pytest.fixture
def configured_lab(tmp_path: Path) -> Iterator[LabRun]:
    write_context(tmp_path / "web", APP)
    (tmp_path / "token.txt").write_text("s3cret\n")
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    for lab in lab_run(tmp_path / "compose.yaml", "t-configs"):
        base = base_image_env()["AGENTLAB_BASE_IMAGE"]
        (tmp_path / ".env").write_text(f"COMPOSE_PROJECT_NAME={lab.project}\nBASE_IMAGE={base}\n")
        yield lab


def answers(lab: LabRun) -> list[str]:
    """What each running web replica answers on its own loopback."""
    ask = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9000/').read().decode())"
    return sorted(
        lab.docker("exec", name, "python3", "-c", ask).strip()
        for name in lab.containers()
        if "-web-" in name
    )


def test_new_replicas_get_the_services_configs_and_secrets(configured_lab: LabRun) -> None:
    lab = configured_lab
    up = lab("up")
    assert up.code == 0, up.err
    assert answers(lab) == ["1.0.0 mode=fast s3cret"] * 2
    built = lab("images", "build", "--service", "web", "--version", "1.1.0")
    assert built.code == 0, built.err
    rolled = lab("rollout", "web", "--to", "1.1.0")
    assert rolled.code == 0, rolled.out + rolled.err
    assert rolled.out.count("answers to web") == 2, rolled.out  # named once ready
    assert answers(lab) == ["1.1.0 mode=fast s3cret"] * 2

    # A replica a drill killed stays stopped: Compose, starting new replicas, would start
    # it too. Refused before anything is created, said, the killed one left as it was.
    killed = next(name for name in lab.containers() if "-web-" in name)
    assert lab("kill", killed).code == 0
    before = lab.containers()
    refused = lab("rollout", "web", "--to", "1.0.0")
    assert refused.code == 1, refused.out + refused.err
    assert f"would start the stopped {killed} too" in refused.out, refused.out
    # the rollout ended (failed), as there is nothing to resume: the hint says to run it again
    assert f"(hint: docker rm {killed}, then run the command again)" in refused.err
    assert lab.containers() == before
    state = lab.docker("inspect", "-f", "{{.State.Status}}", killed).strip()
    assert state == "exited"
