"""Swarm for the benchmarks that compare against it: a single-node swarm for the length of
a run, and the small helpers its set-up and teardown share."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from benchlib import SetupError, docker, note

SETTLE_TIMEOUT = 120.0


def ms(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def wait_until(
    check: Callable[[], bool], what: str, timeout: float = SETTLE_TIMEOUT, fail: bool = True
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    if fail:
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
    return False


class Swarm:
    """A single-node swarm: initialised here only when the engine is not in one, and then
    left at the end (with the docker_gwbridge network it created)."""

    def __init__(self) -> None:
        self.initialised = False
        self.gwbridge_existed = True

    def __enter__(self) -> Swarm:
        info = docker("info", "--format", "{{json .Swarm}}").out
        state = json.loads(info)
        if state.get("LocalNodeState") == "inactive":
            self.gwbridge_existed = (
                docker("network", "inspect", "docker_gwbridge", check=False).code == 0
            )
            docker("swarm", "init", "--advertise-addr", "127.0.0.1")
            self.initialised = True
            note("initialised a single-node swarm (left at the end)")
        elif not (state.get("LocalNodeState") == "active" and state.get("ControlAvailable")):
            raise SetupError(f"this engine is in a swarm but not a manager: {info.strip()}")
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.initialised:
            return
        docker("swarm", "leave", "--force", check=False, timeout=60)
        if not self.gwbridge_existed:
            users = docker(
                "network",
                "inspect",
                "docker_gwbridge",
                "--format",
                "{{len .Containers}}",
                check=False,
            )
            if users.code == 0 and users.out.strip() == "0":
                docker("network", "rm", "docker_gwbridge", check=False)
        note("left the swarm")
