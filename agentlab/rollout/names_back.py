"""The end of a rollout that failed for good: nothing gates its service's DNS name any
more, so the replicas it left out of the name join it (as Compose names every replica).
Left out, they stayed unreachable by name even once healthy, and no resume or undo was
left to put them back."""

from __future__ import annotations

from collections.abc import Callable, Collection

from agentlab.common.errors import AgentlabError
from agentlab.engine.protocol import Engine
from agentlab.rollout.events import ReplicaFailed, ReplicaJoined, RolloutEvent


def names_back(
    engine: Engine, service: str, skip: Collection[str], emit: Callable[[RolloutEvent], None]
) -> None:
    """Every running replica of `service` out of its name, but `skip`, joins it."""
    for replica in engine.replicas(service):
        if not replica.running or replica.named is not False or replica.id in skip:
            continue
        try:
            change = engine.join_name(replica.id, service)
        except AgentlabError as error:
            reason = f"could not join the name: {error.message}"
            emit(ReplicaFailed(replica.id, replica.name, reason, "", ""))
            continue
        if change.networks:
            emit(ReplicaJoined(replica.id, replica.name, service, change.moved))
