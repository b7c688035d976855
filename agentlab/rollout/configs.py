"""A configuration rollout (the compose files edited, the image kept): each phase drives
to a Compose config hash. The files give the forward one (Compose adds its replicas); the
way back, for a rollback or an undo, is copies of a replica of the old configuration, read
before anything changed (engine.copier), since the files no longer give it."""

from __future__ import annotations

from collections.abc import Mapping

from agentlab.common.errors import OperationFailed
from agentlab.engine.protocol import REVERT_HINT, Engine, ReplicaCopier

# A phase's target configuration hash (None: any), and the copiers read_copiers found.
Configuration = tuple[str | None, Mapping[str, ReplicaCopier]]


def read_copiers(engine: Engine, service: str, *configs: str | None) -> dict[str, ReplicaCopier]:
    """For each of `configs` the compose files no longer give, copies of a replica of
    `service` that has it, read now (before anything changes)."""
    wanted = {c for c in configs if c is not None}
    if not wanted:
        return {}
    wanted.discard(engine.config_hashes().get(service, ""))
    found = {r.config_hash: r.id for r in engine.replicas(service)}
    return {c: engine.copier(service, found[c]) for c in wanted if c in found}


def copier_for(
    engine: Engine, service: str, config: str, copiers: Mapping[str, ReplicaCopier]
) -> ReplicaCopier | None:
    """How a phase to `config` starts replicas: None when the files give it (Compose adds
    them), else copies; OperationFailed when neither can."""
    copier = copiers.get(config)
    if copier is None and engine.config_hashes().get(service) != config:
        raise OperationFailed(
            f"no replica of {service}'s configuration {config[:12]} is left to copy, and the "
            "compose files no longer give it",
            hint=REVERT_HINT,
        )
    return copier
