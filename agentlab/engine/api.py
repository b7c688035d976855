"""The Engine API over the engine's local unix socket, as a transport.

`status`, `up` and every rollout step read container and image state again and again.
Through the docker CLI each read is a process start (15-40 ms, far more on a loaded
machine); as an HTTP request on the unix socket it takes a millisecond or two, and the
JSON is the same document `docker inspect` prints. The API has no batched inspect: a
read of N containers is one list request and N inspect requests on the socket. Reads,
logs, the per-replica stop/remove/kill of a rollout and replica copies go this way
(Compose itself still runs as the CLI), when the CLI would itself talk to a local unix
socket (DOCKER_HOST, else the current docker context); `choose_transport` picks the CLI
for a tcp, ssh or TLS endpoint. docker-py would do the same for ~0.2 s of imports in
every command.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import math
import os
import re
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from agentlab.common.errors import AgentlabError, EngineUnavailable, OperationFailed
from agentlab.engine.cli import READ_TIMEOUT, RETRY_HINT, CliTransport, start_hint
from agentlab.engine.clone import CloneRequest
from agentlab.engine.inspect import holders
from agentlab.engine.transport import Transport


class _UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 to a unix socket path."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class ApiTransport:
    """Requests to the engine; one short connection each, so threads may share it."""

    def __init__(self, socket_path: str, timeout: float = READ_TIMEOUT) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def check(self) -> str:
        try:
            answer = self.request("GET", "/version", {}, timeout=10)
        except OperationFailed as refused:  # e.g. a socket proxy answering 403
            raise EngineUnavailable(refused.message, hint=start_hint()) from None
        return str((answer or {}).get("ApiVersion", ""))

    def get(self, path: str, **params: str) -> Any:
        """The JSON document at `path` (quoted here), or None when the engine answers 404."""
        return self.request("GET", path, params)

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        timeout: float | None = None,
        body: Any = None,
    ) -> Any:
        """Send one request (with `body` as JSON); the JSON answer (None for an empty answer,
        and for 404 to a GET or DELETE). Other 4xx and 5xx raise OperationFailed with the
        engine's message; a dead or silent socket raises EngineUnavailable."""
        answer = self.request_bytes(method, path, params, timeout, body)
        return json.loads(answer) if answer and answer.strip() else None

    def request_bytes(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        timeout: float | None = None,
        body: Any = None,
    ) -> bytes | None:
        """As `request`, but the answer's bytes as they came."""
        url = quote(path, safe="/:@")
        if params:
            url += "?" + urlencode(params)
        connection = _UnixConnection(self.socket_path, timeout or self.timeout)
        try:
            if body is None:
                connection.request(method, url)
            else:
                payload = json.dumps(body).encode()
                connection.request(method, url, payload, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
        except PermissionError:
            raise EngineUnavailable(
                f"permission denied on {self.socket_path}",
                hint="add your user to the docker group, or run as root",
            ) from None
        except TimeoutError:
            raise EngineUnavailable(
                f"the Docker engine did not answer {method} {path} within "
                f"{timeout or self.timeout:.0f} s",
                hint="is the Docker engine overloaded or stuck?",
            ) from None
        except (OSError, http.client.HTTPException):
            raise EngineUnavailable(
                "the Docker engine is not reachable", hint=start_hint()
            ) from None
        finally:
            connection.close()
        if response.status == 404 and method != "POST":
            return None  # GET: not there; DELETE: already gone, which is what was asked
        if response.status >= 400:
            raise OperationFailed(f"docker engine: {method} {path}: {_message(answer)}", RETRY_HINT)
        return answer

    def stop(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; returns once the container exited."""
        seconds = math.ceil(timeout)  # the API takes whole seconds: never round a drain to 0
        self.request("POST", f"/containers/{container_id}/stop", {"t": str(seconds)}, seconds + 30)

    def remove(self, container_id: str) -> None:
        """Remove a container and its anonymous volumes (killing it if it still runs)."""
        self.request("DELETE", f"/containers/{container_id}", {"force": "1", "v": "1"})

    def kill(self, container_id: str) -> None:
        """SIGKILL a running container."""
        self.request("POST", f"/containers/{container_id}/kill", {})

    def create_and_start(self, request: CloneRequest) -> str:
        """Create, connect and start the container `request` describes; its id. A container
        that was created but did not start is removed again."""
        created = self.request(
            "POST", "/containers/create", {"name": request.name}, body=request.body
        )
        container_id = str(created["Id"])
        try:
            for network, endpoint in request.networks.items():
                self.request(
                    "POST",
                    f"/networks/{network}/connect",
                    {},
                    body={"Container": container_id, "EndpointConfig": endpoint},
                )
            self.request("POST", f"/containers/{container_id}/start", {})
        except Exception:
            with contextlib.suppress(AgentlabError):  # the first error is the one to report
                self.remove(container_id)
            raise
        return container_id

    def logs(self, container_id: str, lines: int) -> str | None:
        """The last `lines` lines a container wrote to stdout and stderr, in the order it
        wrote them; None when the container is gone."""
        params = {"stdout": "1", "stderr": "1", "tail": str(lines)}
        answer = self.request_bytes("GET", f"/containers/{container_id}/logs", params)
        return None if answer is None else _demultiplex(answer).decode(errors="replace")

    def containers(self, labels: Sequence[str]) -> list[dict[str, Any]]:
        """`docker ps -a` entries (Id, Names, Labels, State...) of every container carrying
        all these labels, newest first."""
        found = self.get("/containers/json", all="1", filters=json.dumps({"label": labels}))
        return list(found or [])

    def container_ids(self, labels: Sequence[str]) -> list[str]:
        return [str(item["Id"]) for item in self.containers(labels)]

    def name_holders(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        exact = [f"^/{re.escape(name)}$" for name in names]
        found = self.get("/containers/json", all="1", filters=json.dumps({"name": exact}))
        return holders(found or [], names)

    def inspect_containers(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """`docker container inspect` documents; a container removed meanwhile is left out."""
        found = (self.get(f"/containers/{cid}/json") for cid in ids)
        return [item for item in found if item is not None]

    def inspect_images(self, refs: Sequence[str]) -> list[dict[str, Any]]:
        """`docker image inspect` documents; references that are not local are left out."""
        found = (self.get(f"/images/{ref}/json") for ref in refs)
        return [dict(item) for item in found if item is not None]

    def image_ids(self, repository: str) -> list[str]:
        """Ids of the local images tagged in `repository`."""
        found = self.get("/images/json", filters=json.dumps({"reference": [repository]}))
        return [str(item["Id"]) for item in found or []]

    def remove_image(self, image_id: str) -> None:
        self.request("DELETE", f"/images/{image_id}", {})

    def start(self, container_id: str) -> None:
        self.request("POST", f"/containers/{container_id}/start", {})

    def probe(self, container_id: str, command: Sequence[str], timeout: float) -> bool:
        """An exec of `command`, attached until it ends (one request on the socket), then
        its exit code. A probe over `timeout` is a failure, as Docker counts one (the
        process is left to end on its own, as Docker 20.10 leaves it too). An engine that
        does not answer is no failed probe: that raises EngineUnavailable."""
        body = {"Cmd": list(command), "AttachStdout": True, "AttachStderr": True}
        try:
            created = self.request("POST", f"/containers/{container_id}/exec", {}, body=body)
        except OperationFailed:  # not running any more
            return False
        exec_id = str(created["Id"])
        # over the timeout: a failed probe (an engine that is gone fails the next request)
        with contextlib.suppress(EngineUnavailable):
            self.request_bytes("POST", f"/exec/{exec_id}/start", {}, timeout, {"Detach": False})
        try:
            found = self.get(f"/exec/{exec_id}/json")
        except OperationFailed:
            return False
        return bool(found) and not found.get("Running") and found.get("ExitCode") == 0

    def disconnect(self, network: str, container_id: str) -> None:
        self.request(
            "POST", f"/networks/{network}/disconnect", {}, body={"Container": container_id}
        )

    def connect(self, network: str, container_id: str, endpoint: dict[str, Any]) -> None:
        body = {"Container": container_id, "EndpointConfig": endpoint}
        self.request("POST", f"/networks/{network}/connect", {}, body=body)


def _demultiplex(stream: bytes) -> bytes:
    """The payload of the engine's multiplexed log stream: frames of an 8-byte header
    (stream 0-2, three zero bytes, a big-endian size) and that many bytes. A container
    with a TTY has no frames: its stream is returned as it is."""
    frames, at = [], 0
    while at + 8 <= len(stream) and stream[at] <= 2 and stream[at + 1 : at + 4] == b"\0\0\0":
        size = int.from_bytes(stream[at + 4 : at + 8], "big")
        frames.append(stream[at + 8 : at + 8 + size])
        at += 8 + size
    return stream if at < len(stream) else b"".join(frames)


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", "")) or "no message"
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip() or "no message"


def choose_transport(environ: Mapping[str, str] = os.environ) -> Transport:
    """The Engine API when the CLI would talk to a local unix socket, else the CLI."""
    socket_path = local_socket(environ)
    return ApiTransport(socket_path) if socket_path else CliTransport()


def local_socket(environ: Mapping[str, str] = os.environ) -> str | None:
    """The unix socket the docker CLI would talk to, or None when it would use another
    kind of endpoint (then agentlab reads through the CLI, which knows how)."""
    host = environ.get("DOCKER_HOST") or None
    if host is None:
        config = Path(environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
        context = environ.get("DOCKER_CONTEXT") or _current_context(config)
        if context and context != "default":
            host = _context_host(config, context)
            if host is None:
                return None
    if host is None:
        return "/var/run/docker.sock"
    return host.removeprefix("unix://") if host.startswith("unix://") else None


def _current_context(config: Path) -> str | None:
    try:
        doc = json.loads((config / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    context = doc.get("currentContext") if isinstance(doc, dict) else None
    return str(context) if context else None


def _context_host(config: Path, context: str) -> str | None:
    digest = hashlib.sha256(context.encode()).hexdigest()
    try:
        meta = json.loads((config / "contexts" / "meta" / digest / "meta.json").read_text())
        return str(meta["Endpoints"]["docker"]["Host"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
