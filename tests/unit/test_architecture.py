"""The layers README draws, as import contracts (import-linter, configured in
pyproject.toml), and the promise that every error the user sees carries a hint."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ERRORS = {"AgentlabError", "BadInput", "EngineUnavailable", "OperationFailed", "LockBusy",
          "InterruptedRollout", "NoMatchingVersion"}  # fmt: skip


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the agentlab package under `root`, with the project's contracts."""
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
         "lint_imports_command()", "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip


def test_the_import_contracts_hold() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "upward", "contract"),
    [
        ("engine/protocol.py", "import agentlab.lab.facade", "Layers"),
        ("lab/model.py", "import agentlab.cli.main", "Layers"),
        ("cli/render.py", "import agentlab.tui.view", "Layers"),
        ("state/lock.py", "import textual", "Scripted mode never imports Textual"),
    ],
)
def test_an_upward_import_breaks_the_build(
    tmp_path: Path, module: str, upward: str, contract: str
) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "agentlab", copy / "agentlab", ignore=shutil.ignore_patterns("demo"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    target = copy / "agentlab" / module
    target.write_text(target.read_text() + f"\n{upward}  # a deliberate violation\n")
    done = lint_imports(copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{contract}" in done.stdout and "BROKEN" in done.stdout


def raised_without_hint(path: Path) -> list[str]:
    """`raise SomeError(...)` calls in a module whose hint is missing or empty."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        if node.func.id not in ERRORS or node.func.id == "NoMatchingVersion":
            continue
        hint = next((k.value for k in node.keywords if k.arg == "hint"), None)
        if hint is None and len(node.args) > 1:
            hint = node.args[1]
        if hint is None or (isinstance(hint, ast.Constant) and not hint.value):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_every_error_has_a_hint() -> None:
    sources = [p for p in (REPO / "agentlab").rglob("*.py") if "demo" not in p.parts]
    missing = [where for path in sources for where in raised_without_hint(path)]
    assert missing == []
