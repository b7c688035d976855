"""An installed agentlab runs its demo lab: the wheel in a fresh virtualenv, commands run
from an empty directory, state in the per-user state directory, nothing in site-packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, base_image_env

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("demo_images")]


def build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the sources (pip builds in the tree it is given)."""
    source = tmp_path / "source"
    shutil.copytree(REPO / "agentlab", source / "agentlab",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = wheels.glob("agentlab-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new virtualenv with the wheel installed (not editable). Its dependencies are
    this environment's, through a .pth path entry: no download, and this environment's
    own (editable) agentlab stays invisible, as path entries' .pth files are not run."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    probe = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", probe], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_installed_wheel_runs_the_demo_lab_from_an_empty_directory(tmp_path: Path) -> None:
    venv = fresh_venv(tmp_path, build_wheel(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    project = f"t-wheel-{uuid.uuid4().hex[:8]}"
    env = {**base_image_env(), "COMPOSE_PROJECT_NAME": project, "AGENTLAB_GATEWAY_PORT": "0",
           "XDG_STATE_HOME": str(tmp_path / "state")}  # fmt: skip
    for name in ("AGENTLAB_FILE", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    agentlab = str(venv / "bin" / "agentlab")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([agentlab, *args], cwd=empty, env=env, capture_output=True,
                              text=True, timeout=600, check=False)  # fmt: skip

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import agentlab; print(agentlab.__file__)"],
        cwd=empty, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    package = Path(where.strip()).parent
    assert package.is_relative_to(venv), where
    try:
        for args in (["images", "build"], ["up", "--version", "v1.3.0"], ["status"]):
            done = run(*args)
            assert done.returncode == 0, f"agentlab {' '.join(args)}: {done.stderr}"
        assert f"project {project}" in done.stdout
        assert done.stdout.count("1.3.0") >= 3  # the three agents
        assert (tmp_path / "state" / "agentlab" / project / "override.yaml").is_file()
        assert not list(package.rglob(".agentlab")) and not list(package.rglob("*.db"))
        down = run("down")
        assert down.returncode == 0, down.stderr
        assert os.listdir(empty) == []  # nothing written where the commands ran
    finally:
        subprocess.run(["docker", "compose", "-p", project, "down", "-v", "-t", "2"],
                       capture_output=True, timeout=120, check=False)  # fmt: skip
