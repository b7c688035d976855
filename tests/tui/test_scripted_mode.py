"""Scripted mode never imports Textual: only `agentlab tui` does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import sys
from agentlab.cli import main
try:
    code = main.main(sys.argv[1:])
except SystemExit as done:  # --help and --version exit through argparse
    code = done.code
loaded = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print(f"exit={code} textual={len(loaded)}", file=sys.stderr)
"""


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scripted") / "compose.yaml"
    path.write_text("services:\n  web:\n    image: example/web:1.0.0\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        [],
        ["tui", "--help"],
        ["bogus"],
        ["status"],
        ["status", "--json"],
        ["versions"],
        ["history"],
        ["rollout", "web", "--dry-run"],
        ["rollout", "web", "--to", "9.9.9", "--dry-run"],
        ["rollback", "web", "--to-revision", "7"],
    ],
    ids=" ".join,
)
def test_commands_do_not_import_textual(compose: Path, args: list[str]) -> None:
    argv = args if args[:1] in (["--help"], ["--version"]) else ["-f", str(compose), *args]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("exit="), done.stderr
    assert last.endswith("textual=0"), f"{args} imported textual: {done.stderr}"


def test_the_tui_command_is_the_one_that_does() -> None:
    """The probe can see an import: the tui handler's lazy import loads textual."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys, agentlab.tui.app; print('textual' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "True"
