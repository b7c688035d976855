"""Replica copies for a rollout (engine/clone.py), on the Engine API transport only.

The first new replica of a rollout phase comes from `compose up --scale`; it is then the
model that the next ones copy, as long as the compose files are those it was made from.
When the engine refuses a copy, the service is not copied again by this process and
Compose adds the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from agentlab.common.errors import OperationFailed
from agentlab.engine.api import ApiTransport
from agentlab.engine.clone import clonable, clone_request
from agentlab.engine.inspect import container_number
from agentlab.engine.protocol import REVERT_HINT

ConfigKey = list[Any]
Copier = Callable[[int, Collection[str]], list[str]]  # count, aliases to leave out: new ids


class ReplicaCopies:
    """The model replica per service, and copies of it."""

    def __init__(self, api: ApiTransport, labels: Callable[[str], list[str]]) -> None:
        self._api = api
        self._labels = labels
        self._models: dict[str, tuple[str, ConfigKey]] = {}  # service: (replica id, key)
        self._refused: set[str] = set()  # services whose copy the engine refused

    def remember(
        self, service: str, new_ids: list[str], config: Mapping[str, Any], key: ConfigKey
    ) -> None:
        """Keep the first replica Compose just added (with `config`, its `compose config`
        entry, made from the files `key` identifies) as the model for the next ones."""
        if new_ids and service not in self._refused and clonable(config):
            self._models[service] = (new_ids[0], key)

    def copy(
        self, service: str, count: int, key: ConfigKey, drop_aliases: Collection[str] = ()
    ) -> list[str]:
        """Up to `count` copies of the service's model, while the files are unchanged;
        without `drop_aliases` (names they join once ready)."""
        model = self._models.pop(service, None)
        if model is None or model[1] != key:
            return []
        document = self._api.get(f"/containers/{model[0]}/json")
        if document is None:
            return []  # removed since: the next replica Compose makes is the model
        added = self._numbered(service, document, count, drop_aliases)
        if len(added) < count:
            self._refused.add(service)
        else:
            self._models[service] = model
        return added

    def copier(self, service: str, replica_id: str) -> Copier:
        """Copies of one replica as it is now (its inspect, read here), to make later even
        once it is gone."""
        document = self._api.get(f"/containers/{replica_id}/json")

        def copy(count: int, drop_aliases: Collection[str]) -> list[str]:
            if document is None:
                raise OperationFailed(
                    f"{service}'s replica {replica_id[:12]} was gone before it was read: no copy",
                    hint=REVERT_HINT,
                )
            added = self._numbered(service, document, count, drop_aliases)
            if len(added) < count:
                raise OperationFailed(
                    f"the engine refused a copy of {service}'s replica", hint=REVERT_HINT
                )
            return added

        return copy

    def _numbered(
        self,
        service: str,
        document: dict[str, Any],
        count: int,
        drop_aliases: Collection[str],
    ) -> list[str]:
        """Up to `count` copies of `document`, numbered after the service's last replica
        (fewer when the engine refuses one)."""
        found = self._api.containers(self._labels(service))
        first = max((container_number(item.get("Labels") or {}) for item in found), default=0)
        added: list[str] = []
        for number in range(first + 1, first + 1 + count):
            copied = self._copy(document, number, drop_aliases)
            if copied is None:
                return added
            added.append(copied)
        return added

    def _copy(
        self, document: dict[str, Any], number: int, drop_aliases: Collection[str]
    ) -> str | None:
        """Replica `number` as a copy of the model `document`; None when refused."""
        request = clone_request(document, number, drop_aliases)
        if request is None:
            return None
        try:
            return self._api.create_and_start(request)
        except OperationFailed:
            return None


class NoCopies:
    """The CLI transport's stand-in: `docker create` cannot take a copied request, so
    Compose adds every replica."""

    def remember(
        self, service: str, new_ids: list[str], config: Mapping[str, Any], key: ConfigKey
    ) -> None:
        """Nothing to remember."""

    def copy(
        self, service: str, count: int, key: ConfigKey, drop_aliases: Collection[str] = ()
    ) -> list[str]:
        return []

    def copier(self, service: str, replica_id: str) -> Copier:
        def copy(count: int, drop_aliases: Collection[str]) -> list[str]:
            raise OperationFailed(
                f"copying {service}'s replica needs the engine's API socket",
                hint="make the Docker socket readable to agentlab",
            )

        return copy
