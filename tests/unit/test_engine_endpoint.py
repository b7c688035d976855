"""The engine's address: an error names DOCKER_HOST (or DOCKER_CONTEXT) when it picks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import EngineUnavailable
from agentlab.engine.api import ApiTransport
from agentlab.engine.cli import START_HINT, failure

BOGUS = (
    "Failed to initialize: unable to resolve docker endpoint: "
    "invalid bind address format: bogus://x\n"
)
NO_CONTEXT = (
    'Failed to initialize: unable to resolve docker endpoint: context "nope": context not '
    "found: open /root/.docker/contexts/meta/ca37/meta.json: no such file or directory\n"
)
SSH_DOWN = (
    'error during connect: Get "http://docker.example.com/v1.50/containers/json": command '
    "[ssh -T -l me -- box docker system dial-stdio] has exited with exit status 255\n"
)


@pytest.fixture(autouse=True)
def no_endpoint_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)


def test_a_malformed_docker_host_is_engine_unavailable_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "bogus://x")
    error = failure(["ps", "-aq"], BOGUS)
    assert isinstance(error, EngineUnavailable)
    assert (
        error.message == "no usable Docker engine address: invalid bind address format: bogus://x"
    )
    assert error.hint.startswith("DOCKER_HOST=bogus://x is not an engine address (unix://")


def test_a_missing_docker_context_is_engine_unavailable_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_CONTEXT", "nope")
    error = failure(["compose", "up"], NO_CONTEXT)
    assert isinstance(error, EngineUnavailable)
    assert error.message == 'no usable Docker engine address: context "nope": context not found'
    assert error.hint.startswith("DOCKER_CONTEXT=nope is not a docker context")


def test_a_missing_current_context_names_docker_context_use() -> None:
    error = failure(["ps"], NO_CONTEXT)
    assert isinstance(error, EngineUnavailable)
    assert "docker context use default" in error.hint


@pytest.mark.parametrize(
    "stderr",
    [
        "Cannot connect to the Docker daemon at tcp://127.0.0.1:1. Is the docker daemon running?",
        SSH_DOWN,
    ],
)
def test_a_docker_host_that_does_not_answer_is_named_in_the_hint(
    monkeypatch: pytest.MonkeyPatch, stderr: str
) -> None:
    assert failure(["ps"], stderr).hint == START_HINT
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    error = failure(["ps"], stderr)
    assert isinstance(error, EngineUnavailable)
    assert error.message == "the Docker engine is not reachable"
    assert error.hint == (
        "start the engine DOCKER_HOST=tcp://127.0.0.1:1 names, or unset DOCKER_HOST to use "
        "the default one"
    )


def test_a_dead_docker_host_socket_is_named_in_the_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    with pytest.raises(EngineUnavailable, match="not reachable") as raised:
        ApiTransport(str(tmp_path / "no.sock"), timeout=5).containers([])
    assert f"DOCKER_HOST=unix://{tmp_path}/no.sock names" in raised.value.hint


def test_the_default_context_is_not_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    assert failure(["ps"], "Is the docker daemon running?").hint == START_HINT
