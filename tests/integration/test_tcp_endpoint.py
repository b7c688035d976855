"""An engine behind a tcp:// endpoint, where agentlab cannot use the Engine API socket:
reads go through the docker CLI's JSON, `compose up` through the Compose CLI, per-replica
stop and remove through python-on-whales, and every rollout step through Compose (no
copies). The engine is reached through a loopback TCP proxy to its unix socket."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from agentlab.engine.api import local_socket
from tests.conftest import LabRun
from tests.integration.test_webapp_project import web_versions

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("webapp_images")]


class LoopbackProxy:
    """Forwards each connection on 127.0.0.1:<port> to the engine's unix socket."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.sockets: list[socket.socket] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sockets += [client, engine]
            try:
                engine.connect(self.socket_path)
            except OSError:
                client.close()  # the client sees a refused engine at once
                continue
            for source, target in ((client, engine), (engine, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        self.acceptor.join(timeout=5)
        for each in self.sockets:
            each.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@pytest.fixture
def tcp_engine() -> Iterator[LoopbackProxy]:
    path = local_socket()
    if path is None:
        pytest.skip("the engine is not on a local unix socket here")
    proxy = LoopbackProxy(path)
    yield proxy
    proxy.close()


def test_up_rollout_and_down_through_a_tcp_endpoint(
    webapp_lab: LabRun, tcp_engine: LoopbackProxy
) -> None:
    webapp_lab.env["WEBAPP_CACHE_PORT"] = "0"
    webapp_lab.env["DOCKER_HOST"] = tcp_engine.url
    up = webapp_lab("up", "--version", "1.0.0")
    assert up.code == 0, up.err
    assert tcp_engine.connections > 0  # agentlab and Compose went through the endpoint

    result = webapp_lab("rollout", "web", "--to", "1.1.0", "--json")
    assert result.code == 0, result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    assert [e["event"] for e in events].count("replica_removed") == 3
    assert events[-1]["outcome"] == "complete"
    assert web_versions(webapp_lab) == ["1.1.0"] * 3

    history = webapp_lab("history", "web", "--json")
    assert [r["version"] for r in history.json()] == ["1.0.0", "1.1.0"]

    assert webapp_lab("down", "--volumes").code == 0
    assert webapp_lab.containers() == []
