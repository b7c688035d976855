"""A service's DNS name on its networks, for replicas that answer it only while ready.

Docker's embedded DNS answers a service's name with every container that has it as an
alias on the network. Docker sets a container's aliases only when it connects it to a
network, so a replica joins or leaves the name by a disconnect and a connect with its
aliases changed (0.1-0.35 s on Docker 20.10). The container gets back the lowest free
address of the network's pool: its own, just freed, unless a lower one is free; on a
network with a configured subnet its old address is asked for, and kept. When the address
moves, connections to the old one are cut: the change says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentlab.common.errors import OperationFailed
from agentlab.engine.model import NameChange
from agentlab.engine.transport import Transport

_SHARED_ENDPOINT_KEYS = ("Links", "DriverOpts")


def service_names(config: Mapping[str, Any], service: str) -> dict[str, list[str]]:
    """Network -> the names Compose gives `service` there (its name, then its aliases),
    from `compose config` JSON; empty for a service in another network mode."""
    entry = (config.get("services") or {}).get(service) or {}
    if entry.get("network_mode"):
        return {}
    declared = config.get("networks") or {}
    project = str(config.get("name") or "")
    names = {}
    for key, settings in (entry.get("networks") or {"default": None}).items():
        network = (declared.get(key) or {}).get("name") or f"{project}_{key}"
        names[str(network)] = [service, *((settings or {}).get("aliases") or [])]
    return names


class NameKeeper:
    """Joins and leaves services' names through a transport; remembers the networks whose
    subnet was not configured (the engine refuses to be asked for an address there)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._unaddressable: set[str] = set()

    def join(self, container_id: str, names: Mapping[str, list[str]]) -> NameChange:
        """Give the container the names on each of its networks that lacks them."""
        return self._rename(container_id, names, join=True)

    def leave(self, container_id: str, names: Mapping[str, list[str]]) -> NameChange:
        """Take the names off the container on each of its networks (its own name stays)."""
        return self._rename(container_id, names, join=False)

    def _rename(self, container_id: str, names: Mapping[str, list[str]], join: bool) -> NameChange:
        [document] = self.transport.inspect_containers([container_id]) or [{}]
        endpoints = (document.get("NetworkSettings") or {}).get("Networks") or {}
        short_id = container_id[:12]
        changed, before = [], {}
        for network, wanted in names.items():
            endpoint = endpoints.get(network)
            if endpoint is None and join and document and not endpoints:  # a leave cut short
                own_name = str(document.get("Name", "")).lstrip("/")
                self.transport.connect(network, container_id, {"Aliases": [own_name, *wanted]})
                changed.append(network)
                continue
            if endpoint is None:
                continue
            current = [a for a in endpoint.get("Aliases") or [] if a != short_id]
            if join:
                aliases = current + [name for name in wanted if name not in current]
            else:
                aliases = [name for name in current if name not in wanted]
            if aliases == current:
                continue
            before[network] = endpoint.get("IPAddress") or ""
            self._reconnect(network, container_id, endpoint, aliases)
            changed.append(network)
        if not changed:
            return NameChange()
        [after] = self.transport.inspect_containers([container_id]) or [{}]
        now = (after.get("NetworkSettings") or {}).get("Networks") or {}
        moved = [n for n in before if (now.get(n) or {}).get("IPAddress") != before[n]]
        addresses = {n: str(e.get("IPAddress")) for n, e in now.items() if e and e.get("IPAddress")}
        return NameChange(tuple(changed), tuple(moved), addresses)

    def _reconnect(
        self, network: str, container_id: str, endpoint: Mapping[str, Any], aliases: list[str]
    ) -> None:
        """Disconnect and connect with `aliases`, asking for the same address where the
        network allows it (and without, if the engine refuses it)."""
        settings: dict[str, Any] = {"Aliases": aliases}
        for key in _SHARED_ENDPOINT_KEYS:
            if endpoint.get(key):
                settings[key] = endpoint[key]
        address = endpoint.get("IPAddress")
        self.transport.disconnect(network, container_id)
        if address and network not in self._unaddressable:
            try:
                self.transport.connect(
                    network, container_id, {**settings, "IPAMConfig": {"IPv4Address": address}}
                )
                return
            except OperationFailed as refused:
                if "configured subnets" in refused.message:
                    self._unaddressable.add(network)  # not asked again on this network
        self.transport.connect(network, container_id, settings)
