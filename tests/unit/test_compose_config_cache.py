"""`compose config` is cached beside the override until one of its inputs changes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from agentlab.engine import compose as compose_module
from agentlab.engine.compose import ComposeEngine


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ComposeEngine, list[str]]:
    compose = tmp_path / "compose.yaml"
    compose.write_text('services:\n  web:\n    image: "a/web:${WEB_TAG:-1}"\n')
    engine = ComposeEngine([compose], "p", tmp_path / ".agentlab" / "p" / "override.yaml")
    engine.override.parent.mkdir(parents=True)  # type: ignore[union-attr]
    calls: list[str] = []

    def docker(args: Sequence[str], timeout: float = 30) -> str:
        calls.append(" ".join(args))
        return json.dumps({"name": "p", "services": {"web": {"image": f"a/web:{len(calls)}"}}})

    monkeypatch.setattr(compose_module, "run_docker", docker)
    monkeypatch.delenv("WEB_TAG", raising=False)
    return engine, calls


def test_second_read_comes_from_the_cache(engine: tuple[ComposeEngine, list[str]]) -> None:
    compose, calls = engine
    first = compose.compose_config()
    assert compose.compose_config() == first
    assert len(calls) == 1


def test_an_interpolated_variable_invalidates(
    engine: tuple[ComposeEngine, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    compose, calls = engine
    compose.compose_config()
    monkeypatch.setenv("WEB_TAG", "2")
    compose.compose_config()
    monkeypatch.setenv("UNRELATED", "x")
    compose.compose_config()
    assert len(calls) == 2


def test_editing_a_file_or_adding_the_override_invalidates(
    engine: tuple[ComposeEngine, list[str]],
) -> None:
    compose, calls = engine
    compose.compose_config()
    compose.compose_files[0].write_text("services:\n  web:\n    image: a/web:3\n")
    compose.compose_config()
    assert compose.override is not None
    compose.override.write_text("services:\n  web:\n    image: a/web:4\n")
    compose.compose_config()
    (compose.compose_files[0].parent / ".env").write_text("WEB_TAG=5\n")
    compose.compose_config()
    assert len(calls) == 4


@pytest.mark.parametrize("edited", ["web.env", "more.yaml", "base.yaml", "more.env"])
def test_included_extended_and_env_files_invalidate(
    engine: tuple[ComposeEngine, list[str]], edited: str
) -> None:
    compose, calls = engine
    directory = compose.compose_files[0].parent
    (directory / "web.env").write_text("A=1\n")
    (directory / "more.env").write_text("B=1\n")
    (directory / "base.yaml").write_text("services:\n  base:\n    image: a/base:1\n")
    (directory / "more.yaml").write_text(
        "services:\n  tool:\n    extends: {file: base.yaml, service: base}\n"
        "    env_file: [{path: more.env, required: false}]\n"
    )
    compose.compose_files[0].write_text(
        "include: [more.yaml]\nservices:\n  web:\n    image: a/web:1\n    env_file: web.env\n"
    )
    compose.compose_config()
    compose.compose_config()
    assert len(calls) == 1
    (directory / edited).write_text((directory / edited).read_text() + "\n# edited\n")
    compose.compose_config()
    assert len(calls) == 2


def test_a_project_never_started_gets_no_state_directory_from_a_read(
    engine: tuple[ComposeEngine, list[str]],
) -> None:
    compose, calls = engine
    assert compose.override is not None
    state = compose.override.parent
    state.rmdir()  # `agentlab -p typo status`: nothing of that project exists
    state.parent.rmdir()
    compose.compose_config()
    compose.compose_config()
    assert len(calls) == 2 and not state.parent.exists()  # read each time, nothing created
