"""A configuration rollout (the compose files edited, the image kept). Forward, a phase
drives away from the configuration the replicas ran, to whatever Compose gives the new
ones it creates (Compose's own hash, which `config --hash` does not always reproduce:
docker/compose#14001). Back, for a rollback or an undo, it drives to the old one, whose
replicas only copies can make (the files no longer give it): copies of a replica read
before anything changed (engine.copier)."""

from __future__ import annotations

from dataclasses import dataclass

from agentlab.common.errors import OperationFailed
from agentlab.engine.protocol import REVERT_HINT, Engine, ReplicaCopier


@dataclass(frozen=True)
class ConfigTarget:
    """Away from the configuration hash `old` (forward), or `back` to it."""

    old: str
    back: bool = False

    def holds(self, config_hash: str | None) -> bool:
        """Whether a replica with this config hash is where the phase drives."""
        return (config_hash == self.old) == self.back


def read_copier(engine: Engine, service: str, old: str | None) -> ReplicaCopier | None:
    """Copies of a replica of `service` with the config hash `old`, read now (before
    anything changes); None when there is no such replica (or no `old`)."""
    if old is None:
        return None
    found = [r for r in engine.replicas(service) if r.config_hash == old]
    return engine.copier(service, found[0].id) if found else None


def copier_for(service: str, target: ConfigTarget, copier: ReplicaCopier | None) -> ReplicaCopier:
    """How a phase back to an old configuration starts replicas; OperationFailed when no
    replica of it was left to copy."""
    if copier is None:
        raise OperationFailed(
            f"no replica of {service}'s configuration before the edit is left to copy",
            hint=REVERT_HINT,
        )
    return copier
