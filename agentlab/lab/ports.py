"""Published host ports: before `up` starts a service, each fixed host port it publishes
must be free, or the engine fails half-way with "address already in use"."""

from __future__ import annotations

import errno
import re
import socket
import sys
from collections.abc import Collection
from pathlib import Path

import yaml

from agentlab.common.errors import BadInput
from agentlab.common.yamlload import safe_load
from agentlab.engine.model import PublishedPort
from agentlab.lab.model import ProjectModel

_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def check_ports_free(model: ProjectModel, running: Collection[str]) -> None:
    """BadInput naming the first fixed host port that something else holds, among the
    services that are not running yet (a running one holds its own ports)."""
    for name, spec in model.services.items():
        if name in running:
            continue
        for port in spec.fixed_host_ports:
            if not _free(port):
                raise BadInput(
                    f"port {port.published} ({port.host_ip or 'all addresses'}) of service "
                    f"{name} is already in use",
                    hint=_way_out(model.project.compose_files, name),
                )


def _free(port: PublishedPort) -> bool:
    """Whether the port can be bound now, as Docker binds it: a TCP port that only
    connections closed a moment ago hold (TIME-WAIT, for a minute) is free to it."""
    kind = socket.SOCK_DGRAM if port.protocol == "udp" else socket.SOCK_STREAM
    family = socket.AF_INET6 if ":" in port.host_ip else socket.AF_INET
    with socket.socket(family, kind) as probe:
        # as the engine's listeners (Go) do; on BSD and macOS it would also let a bind
        # pass beside a listener on the wildcard address
        if kind == socket.SOCK_STREAM and sys.platform == "linux":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((port.host_ip or "", port.published or 0))
        except OSError as error:
            return error.errno != errno.EADDRINUSE
    return True


def _way_out(compose_files: Collection[Path], service: str) -> str:
    """Stop what holds the port, or move it: by its variable when the file has one."""
    names = []
    for path in compose_files:
        try:
            doc = safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        entry = (doc or {}).get("services", {}).get(service) if isinstance(doc, dict) else None
        for port in (entry or {}).get("ports") or [] if isinstance(entry, dict) else []:
            text = str(port.get("published", "")) if isinstance(port, dict) else str(port)
            names += _VARIABLE.findall(text)
    if names:
        return f"stop what listens there, or run with {names[0]}=0 for a free port"
    return f"stop what listens there, or change the published port of {service}"
