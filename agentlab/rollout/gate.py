"""Where traffic enters besides the service's DNS name: a proxy in front of the service
(agentlab's traffic layer). The runner lets a replica in once it is ready and answers
the name, takes it out before it is stopped, and forgets it once it is gone; a canary
splits its requests between versions by weight."""

from __future__ import annotations

from typing import Protocol

from agentlab.engine.model import Replica


class TrafficGate(Protocol):
    """A route to the service's replicas, changed at runtime."""

    def admit(self, replica: Replica) -> None:
        """Send requests to this ready replica too."""

    def withdraw(self, replica: Replica) -> bool:
        """No new requests to this replica; those in flight finish. True when it had a
        route to take out."""

    def forget(self, replica: Replica) -> None:
        """The replica is gone: drop its route."""

    def split(self, version: str, percent: int, header_routing: bool = True) -> bool:
        """Send `percent` % of new requests to the replicas of `version` (an image tag),
        the rest to the others, and (`header_routing`) those with the canary header to
        `version` whatever the weight. False when this gate cannot weigh: requests then
        spread over the replicas."""


class NoGate:
    """A service with no traffic layer: the DNS name is the only way in."""

    def admit(self, replica: Replica) -> None:
        """Nothing to do."""

    def withdraw(self, replica: Replica) -> bool:
        return False

    def forget(self, replica: Replica) -> None:
        """Nothing to do."""

    def split(self, version: str, percent: int, header_routing: bool = True) -> bool:
        return False
