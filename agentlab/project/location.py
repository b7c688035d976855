"""Where a lab lives: its compose files, its settings, its project name and state directory.

The demo lab ships inside the package (agentlab/demo, found through importlib.resources);
its state (override, history, lock) goes to the per-user state directory
(`$XDG_STATE_HOME/agentlab/<project>`, default `~/.local/state/agentlab/<project>`), never
beside package files. A user's own project keeps its state beside its compose file, in
`.agentlab/<project>`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import yaml

from agentlab.common.errors import BadInput
from agentlab.common.yamlload import safe_load
from agentlab.project.config import LabSettings, load_settings
from agentlab.project.dotenv import read_dotenv
from agentlab.project.environments import DEFAULT_ENVIRONMENT, Environment, choose_environment

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = tuple(name.replace(".y", ".override.y") for name in COMPOSE_NAMES)
PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
STATE_DIR_NAME = ".agentlab"


def demo_lab() -> Path:
    """The compose file of the demo lab shipped with agentlab."""
    return Path(str(resources.files("agentlab") / "demo" / "compose.yaml")).resolve()


def user_state_home() -> Path:
    """agentlab's per-user state directory (XDG base directories)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "agentlab"


@dataclass(frozen=True)
class Project:
    """A compose project as agentlab manages it; `name` is None until resolved."""

    compose_files: tuple[Path, ...]
    settings: LabSettings
    name: str | None
    environment: str | None = None  # -e ENV (a known one): its own compose project

    @property
    def environment_name(self) -> str:
        """The environment this project runs as (`default` without -e): the lock's section."""
        return self.environment or DEFAULT_ENVIRONMENT

    @property
    def environment_settings(self) -> Environment | None:
        """agentlab.yaml's word on the environment (ports, policy); None without -e."""
        return self.settings.environments.get(self.environment) if self.environment else None

    def in_environment(self, name: str) -> Project:
        """The same lab in environment `name` (`default`: without one); BadInput when
        agentlab.yaml does not know it."""
        chosen = choose_environment(name, self.settings.environments)
        return replace(self, environment=chosen.name if chosen else None)

    @property
    def directory(self) -> Path:
        return self.compose_files[0].parent

    @property
    def is_demo(self) -> bool:
        return self.compose_files[0] == demo_lab()

    def state_dir(self, project_name: str) -> Path:
        """agentlab's own files for one project name: override, history, lock."""
        if self.is_demo:
            return user_state_home() / project_name
        return self.directory / STATE_DIR_NAME / project_name

    def resolved_name(self) -> str:
        """The project name: `-p`, else $COMPOSE_PROJECT_NAME (from the environment, else
        the `.env` beside the compose file), else agentlab.yaml's `project`, else the
        compose file's `name:`, else the directory (as Compose does); in an environment,
        with `-<env>` appended. BadInput for a name Compose would refuse."""
        base = self.base_name()
        return f"{base}-{self.environment}" if self.environment else base

    def base_name(self) -> str:
        """The project name without the environment's suffix."""
        chosen = (
            self.name
            or os.environ.get("COMPOSE_PROJECT_NAME")
            or read_dotenv(self.directory).get("COMPOSE_PROJECT_NAME")
            or self.settings.project
        )
        if chosen:
            if not PROJECT_NAME.fullmatch(chosen):
                raise BadInput(
                    f"invalid project name {chosen!r}: Compose takes lowercase letters, "
                    "digits, '-' and '_', starting with a letter or digit",
                    hint=f"-p {normalized(chosen)}",
                )
            return chosen
        try:
            doc = safe_load(self.compose_files[0].read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("name"), str):
            return str(doc["name"])
        return normalized(self.directory.name)


def normalized(name: str) -> str:
    """A name as Compose makes a project name of a directory's: lowercase, only letters,
    digits, '-' and '_', no leading '-' or '_'."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-") or "default"


def find_compose_files(given: list[str] | None, cwd: Path | None = None) -> tuple[Path, ...]:
    """`-f` files, else $AGENTLAB_FILE, else $COMPOSE_FILE (from the environment, else the
    `.env` in cwd), else a compose file in cwd or the nearest parent directory that has one
    (with its `compose.override.yaml`), as Compose finds them; else the demo lab."""
    here = cwd or Path.cwd()
    if not given:
        given = _files_from_environment(here)
    if given:
        paths = tuple((here / Path(name).expanduser()).resolve() for name in given)
        for path in paths:
            if not path.is_file():
                raise BadInput(
                    f"compose file not found: {path}",
                    hint="check -f, or $AGENTLAB_FILE / $COMPOSE_FILE (environment or .env)",
                )
        return paths
    for directory in (here, *here.parents):
        for name in COMPOSE_NAMES:
            if (directory / name).is_file():
                found = directory / name
                overrides = [directory / o for o in OVERRIDE_NAMES if (directory / o).is_file()]
                return tuple(path.resolve() for path in [found, *overrides[:1]])
    bundled = demo_lab()
    if bundled.is_file():
        return (bundled,)
    raise BadInput(
        "no compose file here, and the demo lab is missing from this installation",
        hint="pass one with -f compose.yaml, or reinstall agentlab",
    )


def _files_from_environment(here: Path) -> list[str]:
    """$AGENTLAB_FILE, else Compose's $COMPOSE_FILE (a list, split on
    $COMPOSE_PATH_SEPARATOR, else ':'), from the environment or the `.env` in `here`."""
    if os.environ.get("AGENTLAB_FILE"):
        return [os.environ["AGENTLAB_FILE"]]
    dotenv = read_dotenv(here)
    value = os.environ.get("COMPOSE_FILE") or dotenv.get("COMPOSE_FILE") or ""
    separator = (
        os.environ.get("COMPOSE_PATH_SEPARATOR")
        or dotenv.get("COMPOSE_PATH_SEPARATOR")
        or os.pathsep
    )
    return [name for name in value.split(separator) if name]


def load_project(
    compose_files: list[str] | None, project_name: str | None, environment: str | None = None
) -> Project:
    """Locate the files and read `agentlab.yaml`; the environment is `-e`, else
    $AGENTLAB_ENV, else the default one. Validates, touches nothing."""
    files = find_compose_files(compose_files)
    settings = load_settings(files[0].parent)
    given = environment or os.environ.get("AGENTLAB_ENV")
    chosen = choose_environment(given, settings.environments)
    return Project(files, settings, project_name, chosen.name if chosen else None)
