"""Changes to a few files, seen by watching their directories and handed out debounced.

Editors save by writing a temporary file and renaming it over the original, which a
watch on the file itself would miss; so the parent directories are watched and events
are kept when their path (or a move's destination) is one of the files. Open and
close-without-write events are ignored: reading the files must not look like a change.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

CHANGES = {
    EVENT_TYPE_CREATED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_CLOSED,
}


class _Handler(FileSystemEventHandler):
    """Forwards the events that touch one of `files` to `note`."""

    def __init__(self, files: frozenset[Path], note: Callable[[Path], None]) -> None:
        self.files = files
        self.note = note

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in CHANGES:
            return
        for raw in (event.src_path, event.dest_path):
            if raw and Path(os.fsdecode(raw)) in self.files:
                self.note(Path(os.fsdecode(raw)))


class FileChanges:
    """Debounced changes to `files`: `wait()` returns once `quiet` seconds pass without one.

    `note(path)` is the event source's entry point (watchdog calls it from its thread);
    `start()`/`stop()` run the watchdog observer on the files' directories."""

    def __init__(self, files: Iterable[Path], quiet: float) -> None:
        self.files = frozenset(files)
        self.quiet = quiet
        self._cond = threading.Condition()
        self._pending: set[Path] = set()
        self._last = 0.0
        self._stopped = False
        self._observer = Observer()

    def start(self) -> None:
        """Watch the directories (creating a missing one, e.g. a new state directory)."""
        handler = _Handler(self.files, self.note)
        for directory in sorted({path.parent for path in self.files}):
            directory.mkdir(parents=True, exist_ok=True)
            self._observer.schedule(handler, str(directory), recursive=False)
        self._observer.start()

    def stop(self) -> None:
        """Stop and join the observer; a blocked `wait()` returns False."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join()

    def note(self, path: Path) -> None:
        """Record a change to one of the files."""
        with self._cond:
            self._pending.add(path)
            self._last = time.monotonic()
            self._cond.notify_all()

    def discard(self) -> None:
        """Forget the changes noted so far (the caller has just read the files anyway)."""
        with self._cond:
            self._pending.clear()

    def wait(self) -> bool:
        """Block until files changed and then stayed quiet (True), or until stopped (False)."""
        with self._cond:
            while not self._stopped:
                if not self._pending:
                    self._cond.wait()
                    continue
                remaining = self._last + self.quiet - time.monotonic()
                if remaining <= 0:
                    self._pending.clear()
                    return True
                self._cond.wait(remaining)
            return False
