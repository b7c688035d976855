"""A registry that answers with an error (401, 403, 500) is reported as what it answered,
one line with a hint, exit 1; one that does not answer stays exit 3. Against a real HTTP
server on 127.0.0.1 (an ephemeral port) that answers every request with one status."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from agentlab.engine import registry as api
from agentlab.engine.fake import FakeEngine
from agentlab.lab import registry
from agentlab.lab.drift_registry import read_tags
from tests.http_stub import serving
from tests.unit.test_lab_facade import make_facade


class Refusing(http.server.BaseHTTPRequestHandler):
    """Answers every GET and HEAD with `status` (a registry with authentication: 401)."""

    status: ClassVar[int] = 401

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def refusing() -> Iterator[str]:
    with serving(Refusing) as address:
        yield address


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (401, "authentication is not supported"),
        (403, "access denied"),
        (500, "a server error"),
        (418, "not a registry API v2 answer"),
    ],
)
def test_an_error_answer_says_what_the_registry_answered(
    refusing: str, status: int, why: str
) -> None:
    Refusing.status = status
    assert api.status(refusing) == status
    found = read_tags([(refusing, "lab/agent", "1.3.0")])
    assert found.digests == {} and found.error is not None
    assert found.error.exit_code == 1
    line = found.error.one_line()
    assert line.startswith(
        f"registry {refusing} answered HTTP {status} for lab/agent:1.3.0 ({why}"
    ), line
    assert "does not answer" not in line and "(hint: " in line and "\n" not in line


def test_ready_and_the_header_say_what_it_answered_at_once(refusing: str, tmp_path: Path) -> None:
    Refusing.status = 401
    port = int(refusing.rpartition(":")[2])
    lab = make_facade(tmp_path, FakeEngine(nap=0.0), registry={"port": port})
    with pytest.raises(api.RegistryRefused) as refused:  # no 30 s wait for an answer
        registry.ready(lab.model, lambda _: None)
    assert refused.value.exit_code == 1
    assert refused.value.message == (
        f"registry {refusing} answered HTTP 401 (authentication is not supported: agentlab "
        "uses registries without credentials)"
    )
    state = registry.state(lab.model)
    assert state is not None and state.line() == f"registry {refusing} answered HTTP 401"
