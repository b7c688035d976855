"""Notice edits of the files the compose model is built from (compose files, override)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def _stamp(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


class ConfigWatch:
    """Remembers modification times; `changed()` names the files edited since last asked."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self._seen = {path: _stamp(path) for path in paths}

    def changed(self) -> list[Path]:
        now = {path: _stamp(path) for path in self._seen}
        edited = [path for path, stamp in now.items() if stamp != self._seen[path]]
        self._seen = now
        return edited
