"""The desired state a lab's files ask for, loaded strictly: the watcher's model.

`load` re-reads agentlab.yaml, the override and the compose model and names the file at
fault when one does not load; `diff` compares the desired image per managed service;
`target_of` validates a change the way `agentlab rollout` would, touching nothing, and
`needs_rollout` asks whether the replicas run the target already. A pin agentlab wrote
(any agentlab process: a rollout, its rollback, `up`) is told from a hand edit by the
override's record of the pins agentlab wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import yaml

from agentlab.common.errors import BadInput
from agentlab.common.imagerefs import split_image_ref
from agentlab.common.yamlload import safe_load
from agentlab.lab.facade import Lab
from agentlab.lab.watch.events import Change
from agentlab.project.config import SETTINGS_FILE, load_settings
from agentlab.rollout.settings import build_settings
from agentlab.state.override import read_override

T = TypeVar("T")
Contents = dict[Path, bytes | None]


class ConfigProblem(Exception):
    """A watched file does not load; `reason` is one line."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Snapshot:
    """A good load: a fresh Lab, the image each managed service asks for, the file each
    of those images comes from (the override when pinned, else the compose file), and the
    services whose image is a pin agentlab wrote (no edit of the user's: never rolled out)."""

    lab: Lab
    desired: dict[str, str]
    sources: dict[str, Path]
    agentlabs: frozenset[str] = frozenset()


def settings_file(lab: Lab) -> Path:
    return lab.project.directory / SETTINGS_FILE


def watched_files(lab: Lab) -> tuple[Path, ...]:
    """The compose files, agentlab.yaml and the override agentlab owns."""
    return (*lab.project.compose_files, settings_file(lab), lab.override_path)


def read_files(files: Iterable[Path]) -> Contents:
    """Each file's bytes (None when it does not exist): what an edit is recognised by."""
    contents: Contents = {}
    for path in files:
        try:
            contents[path] = path.read_bytes()
        except FileNotFoundError:
            contents[path] = None
    return contents


def display_path(lab: Lab, path: Path) -> str:
    """A file as the user knows it: relative to the project directory when inside it."""
    try:
        return str(path.relative_to(lab.project.directory))
    except ValueError:
        return str(path)


def reopen(lab: Lab) -> Lab:
    """A fresh Lab with agentlab.yaml re-read: the same files, project name and engine; the
    same engine factory, which other environments' labs are made with."""
    settings = load_settings(lab.project.directory)
    project = replace(lab.project, settings=settings, name=lab.project.base_name())
    return Lab(project, lab.model.engine_factory, engine=lab.engine)


def load(lab: Lab, changed: Sequence[Path]) -> Snapshot:
    """The desired image per managed service after an edit. Raises ConfigProblem naming
    the file at fault (a compose-model error blames the edited compose file or override);
    EngineUnavailable passes through."""
    for path in watched_files(lab):
        _check_yaml(path)
    settings = settings_file(lab)
    fresh = _blame(settings, lambda: reopen(lab))
    _blame(settings, lambda: build_settings(fresh.project.settings.rollout))
    override = _blame(lab.override_path, lambda: read_override(lab.override_path))
    pins = override.pins
    model = (*lab.project.compose_files, lab.override_path)
    culprit = next((path for path in changed if path in model), model[0])
    services = _blame(culprit, lambda: fresh.services)
    managed = _blame(settings, lambda: fresh.managed)
    edited = _blame(culprit, fresh.model.edited_over_pins)  # `image:` edited over a pin
    desired, sources, agentlabs = {}, {}, set()
    for name in managed:
        image = edited.get(name) or pins.get(name) or services[name].image
        if image:
            desired[name] = image
            pinned = name in pins and name not in edited
            sources[name] = lab.override_path if pinned else model[0]
            if pinned and override.pinned_by_agentlab(name):
                agentlabs.add(name)
    return Snapshot(fresh, desired, sources, frozenset(agentlabs))


def diff(baseline: Mapping[str, str], desired: Mapping[str, str]) -> tuple[Change, ...]:
    """Services in both whose image differs, in `desired` order (new ones are no change)."""
    return tuple(
        Change(name, baseline[name], image)
        for name, image in desired.items()
        if name in baseline and baseline[name] != image
    )


def target_of(snapshot: Snapshot, change: Change) -> str:
    """The image a change rolls to, validated like `agentlab rollout` (version resolved
    against local or buildable tags, policy, settings, surge safety); ConfigProblem if not."""
    path = snapshot.sources[change.service]
    before, after = split_image_ref(change.before), split_image_ref(change.after)
    if before[0] != after[0]:
        raise ConfigProblem(
            path,
            f"{change.service}: the image changed from {before[0]} to {after[0]}; "
            "watch rolls out versions only (hint: agentlab up)",
        )
    plan = _blame(
        path,
        lambda: snapshot.lab.plan_rollout(
            change.service, after[1], from_image=change.before, running=False
        ),
        f"{change.service}: ",
    )
    return plan.target.image


def needs_rollout(lab: Lab, service: str, target: str) -> bool:
    """True unless the service's replicas all run `target` already, or none run (then the
    pin is all there is to change, and the file already holds it)."""
    images = {replica.image_ref for replica in lab.engine.replicas(service)}
    return bool(images) and images != {target}


def _check_yaml(path: Path) -> None:
    try:
        safe_load(path.read_bytes())
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigProblem(path, f"cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigProblem(path, f"invalid YAML ({where}{problem})") from None


def _blame(path: Path, load_: Callable[[], T], prefix: str = "") -> T:
    """Run a loader; its BadInput becomes a ConfigProblem about `path`."""
    try:
        return load_()
    except BadInput as error:
        text = error.one_line().replace(f"{path}: ", "").replace(str(path), path.name)
        raise ConfigProblem(path, prefix + text) from None
