"""Registry tags as drift reads them: one HEAD of the manifest per distinct tag (with the
Accept headers of the manifest kinds, so the digest is the one `docker push` printed), in
parallel (WORKERS at a time), each bounded by TIMEOUT for its connect and for its read:
a registry that is down or hangs is reported in one line, its tags unknown."""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from agentlab.common.errors import AgentlabError
from agentlab.engine import registry as api

TIMEOUT = 2.0  # seconds per look-up (they run side by side)
WORKERS = 8

TagKey = tuple[str, str, str]  # (registry host:port, repository, tag)


@dataclass(frozen=True)
class TagDigests:
    """What each asked tag names in its registry (None: nothing); the tags of a registry
    that did not answer are left out, and `error` says so in one line."""

    digests: dict[TagKey, str | None] = field(default_factory=dict)
    error: AgentlabError | None = None


def read_tags(wanted: Collection[TagKey], timeout: float = TIMEOUT) -> TagDigests:
    """Ask each registry what each tag names, side by side."""
    keys = sorted(set(wanted))
    if not keys:
        return TagDigests()

    def ask(key: TagKey) -> str | AgentlabError | None:
        try:
            return api.manifest_digest(*key, timeout=timeout)
        except AgentlabError as error:
            return error

    with ThreadPoolExecutor(max_workers=min(WORKERS, len(keys))) as pool:
        answers = list(pool.map(ask, keys))
    errors = [a for a in answers if isinstance(a, AgentlabError)]
    digests = {k: a for k, a in zip(keys, answers, strict=True) if not isinstance(a, AgentlabError)}
    return TagDigests(digests, errors[0] if errors else None)
