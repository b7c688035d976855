"""The agentlab-owned override: atomic writes and strict reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.errors import BadInput
from agentlab.override import read_pins, write_pins


def test_round_trip_and_pull_policy(tmp_path: Path) -> None:
    path = tmp_path / "state" / "override.yaml"
    assert read_pins(path) == {}
    write_pins(path, {"agent": "lab/agent:1.3.0", "collector": "lab/collector:1.0.0"})
    assert read_pins(path) == {"agent": "lab/agent:1.3.0", "collector": "lab/collector:1.0.0"}
    assert "pull_policy: never" in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["override.yaml"]  # no temp file left


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "override.yaml"
    write_pins(path, {"agent": "lab/agent:1.2.0"})

    def broken_replace(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("agentlab.override.os.replace", broken_replace)
    with pytest.raises(OSError):
        write_pins(path, {"agent": "lab/agent:9.9.9"})
    assert read_pins(path) == {"agent": "lab/agent:1.2.0"}
    assert [p.name for p in tmp_path.iterdir()] == ["override.yaml"]


@pytest.mark.parametrize("text", ["services: [1, 2", "other: {}", "services:\n  agent: {}\n"])
def test_bad_override_is_bad_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "override.yaml"
    path.write_text(text)
    with pytest.raises(BadInput):
        read_pins(path)
