"""usable_directory: created when missing; one clear reason when it cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.state import directory
from agentlab.state.directory import StateUnusable, usable_directory


def test_a_missing_directory_is_created(tmp_path: Path) -> None:
    assert usable_directory(tmp_path / "a" / "b").is_dir()
    assert not directory._read_only_mount(tmp_path)


def test_no_permission_is_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agentlab.state.directory.os.access", lambda *_: False)
    with pytest.raises(StateUnusable, match=r"is not usable: Permission denied$") as raised:
        usable_directory(tmp_path)
    assert raised.value.exit_code == 2 and "writable directory" in raised.value.hint
