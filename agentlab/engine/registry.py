"""A registry as agentlab uses it: its HTTP API (does it answer, what digest a tag has) and
the docker CLI's tag, push and pull. Registries on 127.0.0.0/8 are plain HTTP: Docker
allows them without any daemon configuration."""

from __future__ import annotations

import http.client
import re

from agentlab.common.errors import EngineUnavailable, OperationFailed
from agentlab.engine.cli import run_docker

PUSH_TIMEOUT = 600.0
MANIFESTS = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
))  # fmt: skip
_PUSHED = re.compile(r"digest: (sha256:[0-9a-f]{64})")


def down_error(address: str) -> EngineUnavailable:
    """The error of a registry that does not answer (exit 3)."""
    return EngineUnavailable(
        f"the registry at {address} does not answer",
        hint="agentlab up starts it (or docker start its container); nothing was changed",
    )


class RegistryRefused(OperationFailed):
    """A registry that answered with an error (401, 403, 500...): it is reachable and
    refuses, so an operation fails with exit 1, not 3. `drift` is the exception: exit 1 is
    its "drift found", so tags it could not compare, whatever the cause, are its exit 3."""


def answer_error(address: str, status: int, what: str = "") -> RegistryRefused:
    """The error of a registry that answered, with an error (exit 1: it is reachable, it
    refused): what it answered and what to do. `what` names the tag or digest asked."""
    if status in (401, 403):
        refusal = "authentication is not supported" if status == 401 else "access denied"
        why = f"{refusal}: agentlab uses registries without credentials"
        hint = "use a registry without authentication (the lab's own: registry: in agentlab.yaml)"
    elif status >= 500:
        why = "a server error"
        hint = "see the registry's logs (docker logs on its container)"
    else:
        why = "not a registry API v2 answer"
        hint = "is it a registry (API v2)?"
    asked = f" for {what}" if what else ""
    return RegistryRefused(f"registry {address} answered HTTP {status}{asked} ({why})",
                           hint=f"{hint}; nothing was changed")  # fmt: skip


def _request(address: str, method: str, path: str, timeout: float) -> http.client.HTTPResponse:
    host, _, port = address.partition(":")
    connection = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        connection.request(method, path, headers={"Accept": MANIFESTS})
        response = connection.getresponse()
        response.read()
        return response
    except (OSError, http.client.HTTPException):  # refused, timed out, or not HTTP
        raise down_error(address) from None
    finally:
        connection.close()


def status(address: str, timeout: float = 2.0) -> int | None:
    """The HTTP status the registry API at `address` (host:port) answers `GET /v2/` with:
    200 for a registry agentlab can use; None when nothing answers."""
    try:
        return _request(address, "GET", "/v2/", timeout).status
    except EngineUnavailable:
        return None


def manifest_digest(
    address: str, repository: str, reference: str, timeout: float = 10.0
) -> str | None:
    """The digest the registry has for `repository:reference` (a tag or a digest), None
    when it has none; EngineUnavailable when the registry does not answer (within
    `timeout` seconds), OperationFailed when it answers an error (`answer_error`)."""
    response = _request(address, "HEAD", f"/v2/{repository}/manifests/{reference}", timeout)
    if response.status == 404:
        return None
    if response.status != 200:
        sep = "@" if reference.startswith("sha256:") else ":"
        raise answer_error(address, response.status, f"{repository}{sep}{reference}")
    return response.getheader("Docker-Content-Digest")


def tag(source: str, target: str) -> None:
    run_docker(["tag", source, target], what=f"docker tag {target}")


def push(ref: str) -> str:
    """Push `ref` (layers the registry has are skipped); the digest it got."""
    out = run_docker(["push", ref], timeout=PUSH_TIMEOUT, what=f"docker push {ref}")
    found = _PUSHED.search(out)
    if found is None:
        raise OperationFailed(f"docker push {ref} printed no digest", hint="push it again")
    return found.group(1)


def pull(ref: str) -> None:
    run_docker(["pull", "-q", ref], timeout=PUSH_TIMEOUT, what=f"docker pull {ref}")
