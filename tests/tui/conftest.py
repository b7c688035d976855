"""Fixtures for the TUI tests: a fake-engine lab in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentlab.lab import Lab
from tests.tui.support import LabFake, make_fake, make_lab


@pytest.fixture
def fake() -> Iterator[LabFake]:
    engine = make_fake()
    yield engine
    engine.close()


@pytest.fixture
def lab(tmp_path: Path, fake: LabFake) -> Lab:
    return make_lab(tmp_path, fake)
