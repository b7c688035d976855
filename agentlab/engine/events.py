"""Docker's event stream for one project: `docker events` as a blocking iterator."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from agentlab.common.errors import EngineUnavailable
from agentlab.engine.cli import docker_cli, start_hint
from agentlab.engine.inspect import PROJECT_LABEL, SERVICE_LABEL
from agentlab.engine.model import LIFECYCLE_EVENTS, EngineEvent


def project_events(project: str, since: float | None = None) -> DockerEventStream:
    """The lifecycle and health events of a project's containers (health probes' exec_*
    events are left in Docker); with `since`, events from that time on (epoch seconds)."""
    command = [docker_cli(), "events", "--format", "{{json .}}", "--filter", "type=container",
               "--filter", f"label={PROJECT_LABEL}={project}"]  # fmt: skip
    for action in LIFECYCLE_EVENTS:
        command += ["--filter", f"event={action}"]
    if since is not None:
        command += ["--since", f"{since:.6f}"]
    return DockerEventStream(command)


class DockerEventStream:
    """`docker events` as a blocking iterator; `close()` from any thread ends it and reaps
    the subprocess (python-on-whales' events() leaves it running when abandoned)."""

    def __init__(self, command: list[str]) -> None:
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )

    def __iter__(self) -> Iterator[EngineEvent]:
        assert self._process.stdout is not None
        try:
            for line in self._process.stdout:
                if line.strip():
                    yield _event(json.loads(line))
        except ValueError:  # close() from another thread closed the pipe mid-read: ended
            if self._process.stdout.closed:
                return
            raise
        if self._process.wait() not in (0, -15):
            raise EngineUnavailable("the Docker event stream ended", hint=start_hint())

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def _event(item: Mapping[str, Any]) -> EngineEvent:
    actor = item.get("Actor") or {}
    attributes = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
    nanos = item.get("timeNano")
    moment = datetime.fromtimestamp(int(nanos) / 1e9, UTC) if nanos else datetime.now(UTC)
    return EngineEvent(
        action=str(item.get("Action") or item.get("status") or ""),
        container_id=str(actor.get("ID") or item.get("id") or ""),
        service=attributes.get(SERVICE_LABEL),
        name=attributes.get("name", ""),
        time=moment,
        attributes=attributes,
    )
