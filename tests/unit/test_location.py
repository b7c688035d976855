"""Where a lab lives: which compose file, which project name, which state directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import BadInput
from agentlab.project.config import load_settings
from agentlab.project.location import Project, demo_lab, find_compose_files, load_project


@pytest.fixture
def no_file_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the variables that choose compose files is set."""
    for name in ("AGENTLAB_FILE", "COMPOSE_FILE", "COMPOSE_PATH_SEPARATOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_file_variables")
def test_f_then_agentlab_file_then_the_directory_then_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    (here / "compose.yaml").write_text("services: {}\n")
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text("services: {}\n")
    assert find_compose_files(None, here) == (here / "compose.yaml",)
    assert find_compose_files(None, tmp_path) == (demo_lab(),)
    monkeypatch.setenv("AGENTLAB_FILE", str(elsewhere))
    assert find_compose_files(None, here) == (elsewhere,)  # as Compose's COMPOSE_FILE
    assert find_compose_files([str(here / "compose.yaml")], here) == (here / "compose.yaml",)


def test_the_demo_lab_keeps_its_state_per_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    demo = Project((demo_lab(),), load_settings(demo_lab().parent), None)
    assert demo.is_demo
    assert demo.state_dir("agentlab-demo") == tmp_path / "state" / "agentlab" / "agentlab-demo"
    mine = tmp_path / "compose.yaml"
    mine.write_text("services: {}\n")
    user = Project((mine,), load_settings(tmp_path), None)
    assert user.state_dir("p") == tmp_path / ".agentlab" / "p"


def test_project_name_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    monkeypatch.delenv("AGENTLAB_FILE", raising=False)
    directory = tmp_path / "My Shop"
    directory.mkdir()
    compose = directory / "compose.yaml"
    compose.write_text("services: {}\n")
    assert load_project([str(compose)], None).resolved_name() == "myshop"
    compose.write_text("name: shop\nservices: {}\n")
    assert load_project([str(compose)], None).resolved_name() == "shop"
    (directory / "agentlab.yaml").write_text("project: lab\n")
    assert load_project([str(compose)], None).resolved_name() == "lab"
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "env")
    assert load_project([str(compose)], None).resolved_name() == "env"
    assert load_project([str(compose)], "flag").resolved_name() == "flag"


def test_the_project_name_comes_from_the_env_file_as_compose_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    directory = tmp_path / "Shop.Api"
    directory.mkdir()
    compose = directory / "docker-compose.yml"
    compose.write_text("name: from-file\nservices: {}\n")
    (directory / ".env").write_text(
        "# the lab\nBASE_IMAGE=x\nexport COMPOSE_PROJECT_NAME='shop' # ours\nPORT=0\n"
    )
    assert load_project([str(compose)], None).resolved_name() == "shop"
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "env")  # the environment wins, as in Compose
    assert load_project([str(compose)], None).resolved_name() == "env"


def test_a_project_name_compose_would_refuse_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n")
    with pytest.raises(BadInput) as raised:
        load_project([str(compose)], "My.Shop").resolved_name()
    assert raised.value.one_line() == (
        "invalid project name 'My.Shop': Compose takes lowercase letters, digits, '-' and "
        "'_', starting with a letter or digit (hint: -p myshop)"
    )
    underscored = tmp_path / "_Shop.Api"  # Compose drops what it cannot use, leading '_' too
    underscored.mkdir()
    (underscored / "compose.yaml").write_text("services: {}\n")
    named = load_project([str(underscored / "compose.yaml")], None).resolved_name()
    assert named == "shopapi"


@pytest.mark.usefixtures("no_file_variables")
def test_a_compose_override_file_beside_the_found_file_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    assert find_compose_files(None, tmp_path) == (tmp_path / "docker-compose.yml",)
    (tmp_path / "docker-compose.override.yml").write_text("services: {}\n")
    assert find_compose_files(None, tmp_path) == (
        tmp_path / "docker-compose.yml",
        tmp_path / "docker-compose.override.yml",
    )
    given = [str(tmp_path / "docker-compose.yml")]  # -f: only what is given, as Compose
    assert find_compose_files(given, tmp_path) == (tmp_path / "docker-compose.yml",)


@pytest.mark.usefixtures("no_file_variables")
def test_a_subdirectory_finds_its_project_s_compose_file_as_compose_does(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    (tmp_path / "compose.override.yaml").write_text("services: {}\n")
    deep = tmp_path / "src" / "app"
    deep.mkdir(parents=True)
    found = (tmp_path / "compose.yaml", tmp_path / "compose.override.yaml")
    assert find_compose_files(None, deep) == found
    (deep / "docker-compose.yml").write_text("services: {}\n")  # the nearest one wins
    assert find_compose_files(None, deep) == (deep / "docker-compose.yml",)


@pytest.mark.usefixtures("no_file_variables")
def test_compose_file_from_the_environment_or_dotenv_is_a_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("base.yaml", "dev.yaml", "compose.yaml"):
        (tmp_path / name).write_text("services: {}\n")
    monkeypatch.setenv("COMPOSE_FILE", "base.yaml:dev.yaml")
    assert find_compose_files(None, tmp_path) == (tmp_path / "base.yaml", tmp_path / "dev.yaml")
    monkeypatch.setenv("COMPOSE_PATH_SEPARATOR", ",")
    monkeypatch.setenv("COMPOSE_FILE", "dev.yaml,base.yaml")
    assert find_compose_files(None, tmp_path) == (tmp_path / "dev.yaml", tmp_path / "base.yaml")
    monkeypatch.delenv("COMPOSE_FILE")
    monkeypatch.delenv("COMPOSE_PATH_SEPARATOR")
    (tmp_path / ".env").write_text("COMPOSE_FILE=dev.yaml\n")
    assert find_compose_files(None, tmp_path) == (tmp_path / "dev.yaml",)
    (tmp_path / ".env").write_text("COMPOSE_FILE=missing.yaml\n")
    with pytest.raises(BadInput, match=r"missing\.yaml"):
        find_compose_files(None, tmp_path)
