"""Where a lab lives: its compose files, its settings and its state directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from agentlab.config import LabSettings, load_settings
from agentlab.errors import BadInput

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
STATE_DIR_NAME = ".agentlab"
BUNDLED_LAB = Path(__file__).resolve().parent.parent / "compose" / "compose.yaml"


@dataclass(frozen=True)
class Project:
    """A compose project as agentlab manages it."""

    compose_files: tuple[Path, ...]
    settings: LabSettings
    name: str | None

    @property
    def directory(self) -> Path:
        return self.compose_files[0].parent

    def state_dir(self, project_name: str) -> Path:
        """agentlab's own files for one project name: override, history, lock."""
        return self.directory / STATE_DIR_NAME / project_name


def find_compose_files(given: list[str] | None, cwd: Path | None = None) -> tuple[Path, ...]:
    """`-f` files, else $AGENTLAB_FILE, else a compose file in cwd, else the bundled demo lab."""
    if not given and os.environ.get("AGENTLAB_FILE"):
        given = [os.environ["AGENTLAB_FILE"]]
    if given:
        paths = tuple(Path(name).expanduser().resolve() for name in given)
        for path in paths:
            if not path.is_file():
                raise BadInput(f"compose file not found: {path}", hint="check the -f argument")
        return paths
    here = cwd or Path.cwd()
    for name in COMPOSE_NAMES:
        if (here / name).is_file():
            return ((here / name).resolve(),)
    if BUNDLED_LAB.is_file():
        return (BUNDLED_LAB,)
    raise BadInput("no compose file here", hint="pass one with -f compose.yaml")


def load_project(compose_files: list[str] | None, project_name: str | None) -> Project:
    """Locate the files and read `agentlab.yaml`; validates, touches nothing."""
    files = find_compose_files(compose_files)
    settings = load_settings(files[0].parent)
    return Project(compose_files=files, settings=settings, name=project_name or settings.project)
