"""The watcher on real files (real watchdog on tmp_path) against the fake engine: debounce,
rename-saves, broken edits, version diffing, and never reacting to its own writes.

Waits are bounded polls with generous deadlines; nothing asserts on speed. A negative
("nothing else happened") is checked with a sentinel edit: the worker handles edits in
order, so once the sentinel's reload is seen, any reaction to earlier writes would be too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from agentlab.cli.main import main
from agentlab.common.errors import BadInput
from agentlab.engine.compose_model import services_from_config
from agentlab.engine.fake import FakeEngine
from agentlab.engine.fake_containers import Behaviour, exits
from agentlab.engine.model import ServiceSpec
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
from agentlab.lab.watch.state import diff, load
from agentlab.lab.watch.watcher import Watcher
from agentlab.project.location import Project, load_project
from agentlab.rollout.events import (
    ReplicaStarted,
    RollbackStarted,
    RolloutEvent,
    RolloutFinished,
    RolloutStarted,
)
from agentlab.state.lock import project_lock
from agentlab.state.override import read_pins, update_override

E = TypeVar("E", bound=WatchEvent | RolloutEvent)
AGENT, COLLECTOR = "demo/agent", "demo/collector"
COMPOSE = f"""\
services:
  agent:
    image: {AGENT}:1.0.0
    deploy: {{replicas: 2}}
  collector:
    image: {COLLECTOR}:1.0.0
"""
SETTINGS = "rollout: {monitor: 0, timeout: 10}\n"
DEADLINE = 30.0


@dataclass
class FileEngine(FakeEngine):
    """The fake engine with its compose model read from the files, as `docker compose
    config` would: the compose file, then the override's pins on top."""

    compose: Path = Path()

    def services(self) -> dict[str, ServiceSpec]:
        self.calls.append(("services", ()))
        try:
            doc: dict[str, Any] = yaml.safe_load(self.compose.read_text())
        except yaml.YAMLError as exc:
            raise BadInput(f"the compose files do not load: {exc}", hint="fix it") from None
        services = doc["services"]
        for name, image in read_pins(self.override).items() if self.override else ():
            services[name]["image"] = image
        self.pins = {name: spec["image"] for name, spec in services.items()}
        return services_from_config(doc)

    def own_images(self) -> dict[str, str]:
        doc: dict[str, Any] = yaml.safe_load(self.compose.read_text())
        return {name: str(spec["image"]) for name, spec in doc["services"].items()}


def file_engine(project: Project, name: str, override: Path) -> FileEngine:
    return FileEngine(project=name, compose=project.compose_files[0], override=override)


def save(path: Path, text: str) -> None:
    """Save like an editor: write a temporary file beside the file, rename it over."""
    temp = path.with_name(f".{path.name}.swp")
    temp.write_text(text)
    os.replace(temp, path)


@dataclass
class Rig:
    """A lab in tmp_path (agent x2 pinned at 1.0.0, collector from compose) and a
    running watcher recording its events."""

    directory: Path
    lab: Lab
    engine: FileEngine
    events: list[WatchEvent | RolloutEvent] = field(default_factory=list)
    guard: threading.Lock = field(default_factory=threading.Lock)
    sentinels: int = 0

    def record(self, event: WatchEvent | RolloutEvent) -> None:
        with self.guard:
            self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        with self.guard:
            return [event for event in self.events if isinstance(event, kind)]

    def lines(self) -> str:
        with self.guard:
            return "\n".join(event.line() for event in self.events)

    def wait_for(self, predicate: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; events:\n{self.lines()}")
            time.sleep(0.02)

    @property
    def override(self) -> Path:
        return self.lab.override_path

    def pin(self, tag: str) -> None:
        """The user edits the agent's tag in the override (its pin, not agentlab's record)."""
        text = self.override.read_text()
        save(self.override, text.replace(f"image: {AGENT}:1.0.0", f"image: {AGENT}:{tag}"))

    def sentinel(self) -> Reloaded:
        """Edit agentlab.yaml (a comment) and wait until that edit alone is reloaded."""
        self.sentinels += 1
        count = len(self.of(Reloaded))
        save(self.directory / "agentlab.yaml", f"{SETTINGS}# sentinel {self.sentinels}\n")
        self.wait_for(lambda: len(self.of(Reloaded)) > count, "the sentinel's reload")
        reloaded = self.of(Reloaded)[-1]
        assert reloaded.files == ("agentlab.yaml",)
        return reloaded


def make_rig(directory: Path) -> Rig:
    compose = directory / "compose.yaml"
    compose.write_text(COMPOSE)
    (directory / "agentlab.yaml").write_text(SETTINGS)
    lab = Lab(load_project([str(compose)], "lab"), engine_factory=file_engine)
    assert isinstance(lab.engine, FileEngine)
    engine = lab.engine
    for ref, behaviour in (
        (f"{AGENT}:1.0.0", Behaviour()),
        (f"{AGENT}:1.1.0", Behaviour()),
        (f"{AGENT}:1.2.0", exits(after=1)),
        (f"{AGENT}:1.3.0", Behaviour(healthy_after=None)),
        (f"{COLLECTOR}:1.0.0", Behaviour()),
        (f"{COLLECTOR}:2.0.0", Behaviour()),
    ):
        engine.add_image(ref, behaviour)
    update_override(
        lab.override_path, pins={"agent": f"{AGENT}:1.0.0"}
    )  # as `up --version 1.0.0` leaves it
    engine.start("agent", f"{AGENT}:1.0.0", 2)
    engine.start("collector", f"{COLLECTOR}:1.0.0", 1)
    return Rig(directory, lab, engine)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[Rig, Watcher]]:
    made = make_rig(tmp_path)
    watcher = Watcher(made.lab, made.record, debounce=0.1)
    watcher.start()
    try:
        yield made, watcher
    finally:
        watcher.stop()


def finished(rig: Rig) -> list[RolloutFinished]:
    return rig.of(RolloutFinished)


# ---- desired-version diffing ------------------------------------------------


def test_diff_names_changed_services_only() -> None:
    baseline = {"agent": "a:1", "collector": "c:1", "gone": "g:1"}
    desired = {"agent": "a:2", "collector": "c:1", "new": "n:1"}
    assert diff(baseline, desired) == (Change("agent", "a:1", "a:2"),)
    assert diff(desired, desired) == ()
    assert Change("agent", "a:1", "a:2").line() == "agent 1 -> 2"


def test_desired_is_the_pin_else_the_compose_image(tmp_path: Path) -> None:
    made = make_rig(tmp_path)
    snapshot = load(made.lab, ())
    assert snapshot.desired == {"agent": f"{AGENT}:1.0.0", "collector": f"{COLLECTOR}:1.0.0"}
    assert snapshot.sources == {"agent": made.override, "collector": tmp_path / "compose.yaml"}


# ---- debounce and rename-saves ----------------------------------------------


def test_noted_burst_is_one_batch_after_a_quiet_period(tmp_path: Path) -> None:
    changes = FileChanges([tmp_path / "a.yaml"], quiet=0.2)
    for _ in range(5):
        changes.note(tmp_path / "a.yaml")
    last = time.monotonic()
    assert changes.wait() is True
    assert time.monotonic() - last >= 0.2
    changes.stop()
    assert changes.wait() is False  # the burst was one batch; stopped now


def test_burst_of_real_edits_is_one_reload(tmp_path: Path) -> None:
    made = make_rig(tmp_path)
    watcher = Watcher(made.lab, made.record, debounce=0.5)
    watcher.start()
    try:
        for keep in range(1, 6):
            (tmp_path / "agentlab.yaml").write_text(f"{SETTINGS}history: {{keep: {keep}}}\n")
        made.wait_for(lambda: made.of(Reloaded), "a reload")
        assert watcher.lab.project.settings.history_keep == 5  # the last edit of the burst
        made.sentinel()
        assert len(made.of(Reloaded)) == 2  # the burst, then the sentinel
    finally:
        watcher.stop()
    assert made.of(Reloaded)[0].files == ("agentlab.yaml",)
    assert not made.of(DesiredChanged)


def test_rename_save_of_the_override_rolls_out_the_new_version(
    rig: tuple[Rig, Watcher],
) -> None:
    made, watcher = rig
    made.pin("1.1.0")
    made.wait_for(lambda: finished(made) and watcher.rolling is None, "the rollout")
    assert finished(made)[0].outcome == "complete", made.lines()
    started = made.of(RolloutStarted)
    assert [(s.service, s.from_version, s.to_version) for s in started] == [
        ("agent", "1.0.0", "1.1.0")  # pinned back first: the rollout starts from what runs
    ]
    assert made.of(DesiredChanged)[0].line() == "desired: agent 1.0.0 -> 1.1.0"
    assert made.engine.images_of("agent") == [f"{AGENT}:1.1.0"] * 2
    assert read_pins(made.override)["agent"] == f"{AGENT}:1.1.0"
    assert watcher.desired["agent"] == f"{AGENT}:1.1.0"
    assert watcher.lab.history().revisions("agent")[-1].cause == "watch: agent 1.0.0 -> 1.1.0"


def test_compose_edit_rolls_out_an_unpinned_service(rig: tuple[Rig, Watcher]) -> None:
    made, _ = rig
    compose = made.directory / "compose.yaml"
    compose.write_text(compose.read_text().replace(":1.0.0\n", ":2.0.0\n", 2))  # in place
    made.wait_for(lambda: finished(made), "the rollout")
    assert finished(made)[0].outcome == "complete", made.lines()
    changed = made.of(DesiredChanged)[0].changes
    assert changed == (Change("collector", f"{COLLECTOR}:1.0.0", f"{COLLECTOR}:2.0.0"),)
    assert made.engine.images_of("collector") == [f"{COLLECTOR}:2.0.0"]
    assert made.engine.images_of("agent") == [f"{AGENT}:1.0.0"] * 2  # the pin wins


def test_compose_edit_over_a_pin_agentlab_wrote_rolls_it_out(tmp_path: Path) -> None:
    """A pin agentlab wrote over the compose file's 1.0.0 masked the edit to 1.1.0:
    watch printed a reload and rolled nothing out."""
    made = make_rig(tmp_path)
    made.lab.model.write_pins({"agent": f"{AGENT}:1.0.0"})  # as `up --version 1.0.0` now
    watcher = Watcher(made.lab, made.record, debounce=0.1)
    watcher.start()
    try:
        compose = made.directory / "compose.yaml"
        save(compose, compose.read_text().replace(f"{AGENT}:1.0.0", f"{AGENT}:1.1.0"))
        made.wait_for(lambda: finished(made), "the rollout")
    finally:
        watcher.stop()
    assert finished(made)[0].outcome == "complete", made.lines()
    assert made.engine.images_of("agent") == [f"{AGENT}:1.1.0"] * 2
    assert read_pins(made.override)["agent"] == f"{AGENT}:1.1.0"


# ---- not reacting to its own writes -----------------------------------------


def test_own_writes_do_not_start_another_rollout(rig: tuple[Rig, Watcher]) -> None:
    made, _ = rig
    made.pin("1.1.0")
    made.wait_for(lambda: finished(made), "the rollout")
    made.sentinel()
    assert len(made.of(RolloutStarted)) == 1, made.lines()
    assert len(made.of(Reloaded)) == 2  # the user's edit and the sentinel, not the runner's
    assert not made.of(WatchError)


def test_rollback_is_not_undone_nor_the_failed_version_retried(
    rig: tuple[Rig, Watcher],
) -> None:
    made, watcher = rig
    made.pin("1.2.0")  # its containers exit: the rollout rolls back and pins 1.0.0 again
    made.wait_for(lambda: finished(made), "the rollout")
    assert finished(made)[0].outcome == "rolled-back", made.lines()
    assert made.of(RollbackStarted)
    assert read_pins(made.override)["agent"] == f"{AGENT}:1.0.0"
    made.sentinel()
    assert len(made.of(RolloutStarted)) == 1, made.lines()
    assert watcher.desired["agent"] == f"{AGENT}:1.0.0"
    assert made.engine.images_of("agent") == [f"{AGENT}:1.0.0"] * 2

    made.pin("1.1.0")  # the next edit rolls out from 1.0.0 as usual
    made.wait_for(lambda: len(finished(made)) == 2, "the second rollout")
    assert finished(made)[1].outcome == "complete", made.lines()


def last_reload_asks(made: Rig, image: str) -> Callable[[], bool]:
    def asks() -> bool:
        last = made.of(Reloaded)[-1:]
        return bool(last) and last[0].desired["agent"] == image

    return asks


def test_pins_of_another_agentlabs_rollout_are_adopted_not_rolled_out(
    rig: tuple[Rig, Watcher],
) -> None:
    """Another agentlab process's rollout pinned its target: the watcher took the pin for
    an edit and tried to roll it out, failing on that rollout's project lock with a
    `watch error`."""
    made, watcher = rig
    other = Lab(made.lab.project, engine_factory=lambda *_: made.engine)  # `agentlab rollout`
    seen: list[RolloutEvent] = []
    other.rollout("agent", "1.1.0", emit=seen.append)
    assert isinstance(seen[-1], RolloutFinished) and seen[-1].outcome == "complete"
    made.wait_for(last_reload_asks(made, f"{AGENT}:1.1.0"), "the pin's reload")
    made.sentinel()
    assert not made.of(WatchError) and not made.of(DesiredChanged), made.lines()
    assert not made.of(RolloutStarted), made.lines()
    assert watcher.desired["agent"] == f"{AGENT}:1.1.0"


def test_rollback_pin_of_another_agentlab_process_is_adopted(rig: tuple[Rig, Watcher]) -> None:
    """Its target pinned, then the old version pinned again by its automatic rollback, each
    seen by the watcher while that process holds the project lock."""
    made, watcher = rig
    other = Lab(made.lab.project, engine_factory=lambda *_: made.engine)
    with project_lock(made.lab.state_dir, "rollout agent --to 1.2.0"):
        for image in (f"{AGENT}:1.2.0", f"{AGENT}:1.0.0"):
            other.model.write_pins({"agent": image})
            made.wait_for(last_reload_asks(made, image), f"the reload of {image}")
            assert watcher.desired["agent"] == image
    made.sentinel()
    assert not made.of(WatchError) and not made.of(DesiredChanged), made.lines()


def test_hand_edit_of_a_pin_made_while_another_command_runs_is_reported(
    rig: tuple[Rig, Watcher],
) -> None:
    made, watcher = rig
    with project_lock(made.lab.state_dir, "rollout agent --to 1.1.0"):
        made.pin("1.1.0")  # the user's edit, while another command holds the lock
        made.wait_for(lambda: made.of(WatchError), "the busy lock to be reported")
    assert "another agentlab command" in made.of(WatchError)[0].line()
    assert read_pins(made.override)["agent"] == f"{AGENT}:1.1.0"  # untouched
    assert watcher.desired["agent"] == f"{AGENT}:1.1.0"  # not retried
    made.sentinel()
    assert not made.of(RolloutStarted), made.lines()


def test_version_already_running_is_adopted_without_a_rollout(
    rig: tuple[Rig, Watcher],
) -> None:
    made, watcher = rig
    for container in made.engine.of("agent"):
        container.image_ref = f"{AGENT}:1.1.0"  # e.g. `agentlab up --version 1.1.0` ran
    made.pin("1.1.0")
    made.wait_for(lambda: made.of(Reloaded), "the reload")
    made.sentinel()
    assert not made.of(DesiredChanged) and not made.of(RolloutStarted), made.lines()
    assert watcher.desired["agent"] == f"{AGENT}:1.1.0"


def test_an_edit_of_a_stopped_service_is_good_config_not_rolled_out(
    rig: tuple[Rig, Watcher],
) -> None:
    """Every container stopped: the edit loads (not a config error), and its rollout is
    refused as `agentlab rollout` refuses it, starting nothing."""
    made, watcher = rig
    for container in made.engine.containers.values():
        container.state = "exited"
    made.pin("1.1.0")
    made.wait_for(lambda: made.of(WatchError), "the refused rollout")
    assert not made.of(ConfigError) and not made.engine.called("add_replicas"), made.lines()
    assert made.of(WatchError)[0].line() == (
        "watch error: agent not rolled out to 1.1.0: the project is down: agent has no running "
        "replica (2 stopped) (hint: agentlab up --set agent=1.1.0 starts it at 1.1.0)"
    )
    assert watcher.desired["agent"] == f"{AGENT}:1.1.0"


def test_stop_pauses_a_running_rollout(rig: tuple[Rig, Watcher]) -> None:
    made, watcher = rig
    made.pin("1.3.0")  # never turns healthy: the rollout waits until stopped
    made.wait_for(lambda: made.of(ReplicaStarted), "a new replica")
    watcher.stop()
    assert finished(made)[0].outcome == "paused", made.lines()
    assert watcher.rolling is None


# ---- broken and invalid edits -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        (".agentlab/lab/override.yaml", "services: [agent", "invalid YAML (line 2, column 1: "),
        ("agentlab.yaml", "rollout: {monitor: 0\n", "invalid YAML"),
        ("agentlab.yaml", "bogus: 1\n", "unknown key 'bogus' (hint: known keys: "),
        ("agentlab.yaml", "rollout: {max_surge: lots}\n", "max_surge"),
        ("agentlab.yaml", "managed: [nope]\n", "manages unknown service 'nope'"),
        (".agentlab/lab/override.yaml", "other: {}\n", "override.yaml has no 'services' mapping"),
        ("compose.yaml", "services: {agent: [\n", "invalid YAML"),
    ],
)
def test_broken_edit_is_reported_and_the_last_good_config_kept(
    rig: tuple[Rig, Watcher], name: str, text: str, reason: str
) -> None:
    made, watcher = rig
    before, lab = watcher.desired, watcher.lab
    save(made.directory / name, text)
    made.wait_for(lambda: made.of(ConfigError), "the config error")
    error = made.of(ConfigError)[0]
    assert error.file == name
    assert reason in error.reason
    assert error.line() == f"config error: {name}: {error.reason}; keeping the last good config"
    assert "\n" not in error.line()
    assert watcher.desired == before and watcher.lab is lab
    assert not made.engine.called("add_replicas") and not made.of(Reloaded)


def test_after_a_broken_edit_the_fix_is_diffed_against_the_last_good_config(
    rig: tuple[Rig, Watcher],
) -> None:
    made, _ = rig
    good = made.override.read_text()
    save(made.override, "services: [agent")
    made.wait_for(lambda: made.of(ConfigError), "the config error")
    save(made.override, good.replace(f"{AGENT}:1.0.0", f"{AGENT}:1.1.0"))
    made.wait_for(lambda: finished(made), "the rollout")
    assert made.of(DesiredChanged)[0].line() == "desired: agent 1.0.0 -> 1.1.0"


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("9.9.9", "agent: no local image of agent matches 9.9.9, and none can be built"),
        ("banana", "agent: 'banana' is not a semver tag"),
    ],
)
def test_bad_version_is_a_config_error_and_nothing_changes(
    rig: tuple[Rig, Watcher], tag: str, reason: str
) -> None:
    made, watcher = rig
    made.pin(tag)
    made.wait_for(lambda: made.of(ConfigError), "the config error")
    error = made.of(ConfigError)[0]
    assert error.file == ".agentlab/lab/override.yaml"
    assert error.reason.startswith(reason)
    assert watcher.desired["agent"] == f"{AGENT}:1.0.0"
    assert not made.engine.called("add_replicas") and not made.of(Reloaded)
    assert read_pins(made.override)["agent"] == f"{AGENT}:{tag}"  # the file is the user's


def test_start_refuses_a_config_that_does_not_load(tmp_path: Path) -> None:
    made = make_rig(tmp_path)
    save(made.override, "services: [agent")
    with pytest.raises(BadInput, match=r"^\.agentlab/lab/override\.yaml: invalid YAML"):
        Watcher(made.lab, made.record).start()


def test_events_render_as_json() -> None:
    event = DesiredChanged((Change("agent", "a:1.0.0", "a:1.1.0"),))
    data = event.to_json()
    assert data["event"] == "desired_changed" and data["time"].endswith("Z")
    assert data["changes"] == [{"service": "agent", "from": "a:1.0.0", "to": "a:1.1.0"}]
    assert ConfigError("x.yaml", "bad").to_json()["reason"] == "bad"


def test_watch_duration_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--duration", "0"]) == 2
    assert "--duration must be positive" in capsys.readouterr().err
