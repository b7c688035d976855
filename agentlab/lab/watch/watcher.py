"""Watch a lab's files and roll out the versions an edit asks for.

While it runs, edits to the compose files, agentlab.yaml and the override are picked up
(debounced); an edit that changes a managed service's desired image rolls that service
out through `Lab.rollout`, one service at a time; an edit that does not load is reported
and the last good config stays in force. The TUI and `agentlab watch` share this core;
it never prints: everything goes to the `on_event` callback.

Not reacting to its own writes: agentlab's rollouts rewrite the override (the runner pins
the target image, and the old one again on rollback). The watcher acts only on the
difference between a load and its baseline (the desired state it has accepted):

- a load whose bytes equal the last ones read is no edit (late or duplicate events),
  and one whose files changed while they were loaded is dropped for the newer edit;
- events that arrive while its rollouts run are dropped, and the files re-read after;
- after a rollout the service's baseline is the image that rollout pinned last, known
  from its own events (the old one when it rolled back, or never started), so its writes
  diff as nothing while a user's edit made meanwhile still diffs as a change;
- a pin agentlab wrote, in any process (another command's rollout, its rollback, `up`),
  is adopted without a rollout: the override records the pins agentlab writes, and only
  a pin that differs from that record (edited by hand) is the user's;
- a change is adopted without a rollout when the replicas all run the target already
  (another agentlab command, or the TUI, may have put it there);
- a rollout its owner runs in the same process (the TUI's keys) is wrapped in
  `hold(service)`: meanwhile edits wait, and after it the service's baseline is what the
  files then ask for (the rollout's last pin), so that rollout's pins (target, rollback,
  pause) are never taken for an edit; other edits made meanwhile still diff as changes.

So a failed version is not retried and a rollback is not undone: both leave the file
equal to the baseline. A rollout that cannot start (another command holds the project
lock, an interrupted rollout waits) is reported and not retried: the baseline takes what
the file then pins.
A rollout starts from the image the service runs (`Lab.rollout(from_image=...)`), not from
the edited pin, so its from-version, its history and its automatic rollback are right.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from agentlab.common.errors import AgentlabError, BadInput
from agentlab.common.imagerefs import split_image_ref
from agentlab.lab.facade import Lab
from agentlab.lab.watch.events import (
    Change,
    ConfigError,
    DesiredChanged,
    Reloaded,
    WatchError,
    WatchEvent,
)
from agentlab.lab.watch.files import FileChanges
from agentlab.lab.watch.state import (
    ConfigProblem,
    Contents,
    Snapshot,
    diff,
    display_path,
    load,
    needs_rollout,
    read_files,
    target_of,
    watched_files,
)
from agentlab.rollout.events import RollbackStarted, RolloutEvent, RolloutStarted
from agentlab.state.directory import usable_directory

DEBOUNCE = 0.3
OnEvent = Callable[[WatchEvent | RolloutEvent], None]


class Watcher:
    """Watches one lab's files and rolls out edited versions; reports through `on_event`.

    `start()` and `stop()` may be called from any thread (once each; a stop during the
    start wins). `on_event` runs on the watcher's worker thread, one event at a time; a TUI
    posts a message from it."""

    def __init__(self, lab: Lab, on_event: OnEvent, debounce: float = DEBOUNCE) -> None:
        self._lab = lab
        self._on_event = on_event
        self.files = watched_files(lab)
        self._changes = FileChanges(self.files, debounce)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._baseline: dict[str, str] = {}
        self._seen: Contents = {}
        self._rolling: str | None = None
        self._reread = False
        self._pause = threading.Event()
        self._holds = 0
        self._adopt: set[str] = set()
        self._worker = threading.Thread(target=self._run, name="agentlab-watch", daemon=True)

    # ---- state (thread-safe reads) ------------------------------------------

    @property
    def lab(self) -> Lab:
        """The Lab of the last good config."""
        with self._lock:
            return self._lab

    @property
    def desired(self) -> dict[str, str]:
        """The desired image per managed service, as last accepted."""
        with self._lock:
            return dict(self._baseline)

    @property
    def rolling(self) -> str | None:
        """The service being rolled out, if any."""
        with self._lock:
            return self._rolling

    def label(self, path: Path) -> str:
        """A watched file as the user knows it (relative to the project directory)."""
        return display_path(self._lab, path)

    # ---- life cycle -------------------------------------------------------

    def start(self) -> None:
        """Take the current state as the baseline, then watch. Raises BadInput when the
        files do not load now or the state directory is not usable (it rolls out into
        it), and EngineUnavailable without an engine."""
        usable_directory(self._lab.state_dir)
        self._seen = read_files(self.files)
        try:
            snapshot = load(self._lab, ())
        except ConfigProblem as problem:
            raise BadInput(
                f"{self.label(problem.path)}: {problem.reason}", hint="fix it, then start again"
            ) from None
        self._accept(snapshot, ())
        with self._lock:
            if self._stopping.is_set():
                return
            self._changes.start()
            self._worker.start()

    def stop(self) -> None:
        """Stop watching: a running rollout pauses at its next step (resume or undo it
        later); the observer and the worker are joined."""
        with self._lock:
            self._stopping.set()
        self._changes.stop()
        if self._worker.is_alive() and self._worker is not threading.current_thread():
            self._worker.join()

    # ---- the owner's control ------------------------------------------------

    def pause(self) -> None:
        """Pause the watcher's running rollout after its step (resume or undo it later)."""
        self._pause.set()

    @contextmanager
    def hold(self, service: str) -> Iterator[None]:
        """Around a rollout of `service` run by the watcher's owner (any thread): edits
        wait until it ends, then the files are re-read with that service's baseline taken
        from them, so the rollout's own pins are no edit."""
        with self._lock:
            self._holds += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
                self._adopt.add(service)
            self._changes.note(self._lab.override_path)  # wakes the worker for the re-read

    def _held(self) -> bool:
        with self._lock:
            return self._holds > 0

    # ---- the worker -------------------------------------------------------

    def _run(self) -> None:
        while self._changes.wait():
            try:
                while self._pass() and not self._stopping.is_set():
                    self._changes.discard()  # our own writes: the re-read covers them
            except Exception as error:  # a bug must not end the watch silently
                self._emit(WatchError(f"internal error: {type(error).__name__}: {error}"))

    def _pass(self) -> bool:
        """Load the files and act on what changed; True when rollouts were due. After
        rollouts (ours, or the owner's held ones) the next good load is a re-read: it runs
        even on unchanged bytes and does not report the override as reloaded, as the
        rollouts rewrote it. While the owner holds the watcher, nothing is read."""
        if self._held():
            return False
        with self._lock:
            adopting = frozenset(self._adopt)
        forced = self._reread or bool(adopting)
        contents = read_files(self.files)
        edited = [path for path in self.files if contents[path] != self._seen.get(path)]
        if not edited and not forced:
            return False
        try:
            snapshot = load(self._lab, edited)
            owned = {name: snapshot.desired[name] for name in adopting & snapshot.desired.keys()}
            changes = tuple(  # a pin any agentlab process wrote is adopted, not rolled
                c
                for c in diff({**self._baseline, **owned}, snapshot.desired)
                if c.service not in snapshot.agentlabs
            )
            targets = {change.service: target_of(snapshot, change) for change in changes}
            due = tuple(
                c for c in changes if needs_rollout(snapshot.lab, c.service, targets[c.service])
            )
        except ConfigProblem as problem:
            if self._settled(contents):
                self._seen = contents
                self._emit(ConfigError(self.label(problem.path), problem.reason))
            return False
        except AgentlabError as error:  # the engine, not the config: tried again next edit
            self._emit(WatchError(error.one_line()))
            return False
        if not self._settled(contents) or self._held():
            return False
        self._seen = contents
        self._accept(snapshot, due, adopting)
        self._reread = bool(due)  # until a load is accepted: a dropped re-read stays owed
        if forced:  # the override changed under our rollouts; edits elsewhere are the user's
            edited = [path for path in edited if path != snapshot.lab.override_path]
        if edited:
            self._emit(Reloaded(tuple(self.label(p) for p in edited), dict(snapshot.desired)))
        if due:
            self._emit(DesiredChanged(due))
        for change in due:
            if self._stopping.is_set() or self._held():
                break  # held: the baseline kept `before`, so the hold's re-read rolls it
            self._roll(snapshot.lab, change, targets[change.service])
        return bool(due)

    def _settled(self, contents: Contents) -> bool:
        """False when the files changed while they were loaded: that load may mix old and
        new files, and the newer edit's pass (its event is pending) judges instead."""
        return read_files(self.files) == contents

    def _accept(
        self, snapshot: Snapshot, due: tuple[Change, ...], adopted: frozenset[str] = frozenset()
    ) -> None:
        """Adopt a good load; services due for a rollout keep their old baseline until
        it has run; the services of ended holds are adopted."""
        with self._lock:
            self._lab = snapshot.lab
            self._baseline = {**snapshot.desired, **{c.service: c.before for c in due}}
            self._adopt -= adopted

    def _roll(self, lab: Lab, change: Change, target: str) -> None:
        """Roll one service out; then its baseline is the image the override pins now."""
        seen: set[type[RolloutEvent]] = set()

        def forward(event: RolloutEvent) -> None:
            seen.add(type(event))
            self._emit(event)

        tag = split_image_ref(target)[1]
        self._pause.clear()
        with self._lock:
            self._rolling = change.service
        try:
            lab.rollout(
                change.service,
                tag,
                emit=forward,
                cause=f"watch: {change.line()}",
                pause=lambda: self._stopping.is_set() or self._pause.is_set(),
                from_image=change.before,
            )
        except AgentlabError as error:
            self._emit(WatchError(f"{change.service} not rolled out to {tag}: {error.one_line()}"))
        finally:
            if RolloutStarted in seen:
                landed = change.before if RollbackStarted in seen else target
            else:
                landed = change.after
            with self._lock:
                self._baseline[change.service] = landed
                self._rolling = None

    def _emit(self, event: WatchEvent | RolloutEvent) -> None:
        self._on_event(event)
