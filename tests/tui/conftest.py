"""Fixtures for the TUI tests: a fake-engine lab in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentlab.lab.facade import Lab
from tests.tui.support import LabFake, fake_lab, make_fake


@pytest.fixture
def fake() -> Iterator[LabFake]:
    engine = make_fake()
    yield engine
    engine.stop_events()


@pytest.fixture
def lab(tmp_path: Path, fake: LabFake) -> Lab:
    return fake_lab(tmp_path, fake)
