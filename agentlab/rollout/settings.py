"""Rollout settings: Kubernetes surge/unavailable plus Compose's update_config vocabulary.

Three layers build the settings of one rollout, the higher winning field by field:
CLI overrides > the service's `deploy.update_config` > project defaults (agentlab.yaml).
Project and CLI layers use the field names below, with durations as seconds or
Go-style strings (`"1m30s"`); the Compose layer uses Compose's keys, with durations
as strings or nanosecond integers (older `docker compose config --format json`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, get_args

from agentlab.common.durations import parse_duration
from agentlab.common.errors import BadInput

Strategy = Literal["rolling", "recreate"]
Order = Literal["start-first", "stop-first"]
FailureAction = Literal["rollback", "pause", "continue"]

_COMPOSE_KEYS = ("parallelism", "delay", "failure_action", "monitor", "max_failure_ratio", "order")
_K8S_KEYS = ("max_surge", "max_unavailable")
_DURATIONS = ("delay", "monitor", "min_ready", "timeout", "drain_timeout",
              "deregistration_delay", "probe_interval")  # fmt: skip


@dataclass(frozen=True)
class RolloutSettings:
    """How one service is replaced.

    The surge budget comes from `max_surge`/`max_unavailable` (counts or percentages of
    the desired replicas), unless `parallelism` or `order` is set: then Compose's
    vocabulary applies (`agentlab.rollout.planner.budget` resolves both)."""

    strategy: Strategy = "rolling"
    max_surge: str = "1"  # count ("1") or percentage ("25%")
    max_unavailable: str = "0"
    parallelism: int | None = None  # update_config.parallelism (0 = all at once)
    delay: float = 0.0  # seconds between batches
    order: Order | None = None  # update_config.order (stop-first when parallelism is set)
    failure_action: FailureAction = "rollback"
    monitor: float = 5.0  # seconds a new replica is watched after turning ready
    max_failure_ratio: float = 0.0
    min_ready: float = 2.0  # seconds running counts as ready when no healthcheck exists
    timeout: float = 120.0  # progress deadline, seconds
    drain_timeout: float | None = None  # SIGTERM drain before SIGKILL; None: stop_grace_period
    # A new replica answers the service's DNS name only once ready; an old one leaves the
    # name, waits `deregistration_delay` seconds, and only then gets SIGTERM.
    name_when_ready: bool = True
    # 2 s: a connection attempt caught in the leave's reconnect (0.1-0.35 s with no
    # interface) is retried by TCP 1 s later, and must still find the replica listening.
    deregistration_delay: float = 2.0
    # agentlab runs a new replica's own healthcheck command at this interval until it
    # passes (ready) or fails `retries` times in a row after its start period (failed);
    # 0: Docker's own verdict at its interval (rollout/probing.py).
    probe_interval: float = 0.5


def build_settings(
    project: Mapping[str, Any] | None = None,
    update_config: Mapping[str, Any] | None = None,
    cli: Mapping[str, Any] | None = None,
) -> RolloutSettings:
    """Merge project defaults, a service's update_config and CLI overrides (None values
    in `cli` mean "not given"). Raises BadInput naming the offending key."""
    settings = _apply(RolloutSettings(), project or {}, "agentlab.yaml rollout")
    settings = _apply_compose(settings, update_config or {}, "update_config")
    given = {key: value for key, value in (cli or {}).items() if value is not None}
    return _apply(settings, given, "option")


SURGE_OPTIONS = ("max_surge", "parallelism", "order")  # options that say how to surge


def without_surge(settings: RolloutSettings) -> RolloutSettings:
    """The settings as stop-first: remove one replica, then start its replacement (for a
    service whose fixed host port or container name admits one container)."""
    if settings.strategy != "rolling":
        return settings
    return replace(settings, max_surge="0", max_unavailable="1", parallelism=None, order=None)


def build_rollback_settings(
    forward: RolloutSettings, rollback_config: Mapping[str, Any] | None = None
) -> RolloutSettings:
    """Settings for an automatic rollback: the forward ones, refined by rollback_config."""
    return _apply_compose(forward, rollback_config or {}, "rollback_config")


def _apply_compose(
    settings: RolloutSettings, config: Mapping[str, Any], where: str
) -> RolloutSettings:
    """Overlay a Compose update_config/rollback_config. Its mere presence switches to
    Swarm's vocabulary with Swarm's defaults (parallelism 1, stop-first)."""
    layer = {key: config[key] for key in _COMPOSE_KEYS if config.get(key) not in (None, "")}
    for key in _DURATIONS:
        if key in layer and isinstance(layer[key], int | float):
            layer[key] = layer[key] / 1e9  # nanoseconds in older Compose JSON
    if config and "parallelism" not in layer:
        layer["parallelism"] = 1 if settings.parallelism is None else settings.parallelism
    return _apply(settings, layer, where)


def _apply(settings: RolloutSettings, layer: Mapping[str, Any], where: str) -> RolloutSettings:
    """One layer over `settings`; k8s keys clear the Compose vocabulary and vice versa."""
    known = {f.name for f in fields(RolloutSettings)}
    changes: dict[str, Any] = {}
    for key, value in layer.items():
        if key not in known:
            hint = ", ".join(sorted(known))
            raise BadInput(f"unknown rollout setting {where} '{key}'", hint=hint)
        changes[key] = _PARSERS[key](value, f"{where} {key}")
    if any(key in changes for key in _K8S_KEYS):
        changes.setdefault("parallelism", None)
        changes.setdefault("order", None)
    return replace(settings, **changes)


def _count(value: Any, what: str) -> str:
    """A replica count or percentage, normalised to a string ("2", "25%")."""
    text = str(value).strip()
    digits = text.removesuffix("%")
    if isinstance(value, bool) or not digits.isdigit():
        raise BadInput(f"{what} must be a count or a percentage, not '{value}'", hint="1 or 25%")
    return f"{int(digits)}%" if text.endswith("%") else str(int(digits))


def _unavailable(value: Any, what: str) -> str:
    """A count, or a percentage of at most 100% (Kubernetes refuses more)."""
    count = _count(value, what)
    if count.endswith("%") and int(count[:-1]) > 100:
        raise BadInput(f"{what} cannot be more than 100%, not '{value}'", hint="e.g. 25% or 1")
    return count


def _seconds(value: Any, what: str) -> float:
    try:
        seconds = parse_duration(value) if not isinstance(value, bool) else -1.0
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise BadInput(f"{what} must be a duration, not '{value}'", hint="e.g. 30s, 500ms, 1m30s")
    return seconds


def _optional_seconds(value: Any, what: str) -> float | None:
    return None if value is None else _seconds(value, what)


def _timeout(value: Any, what: str) -> float:
    seconds = _seconds(value, what)
    if seconds <= 0:
        raise BadInput(f"{what} must be longer than 0s", hint="e.g. 120s")
    return seconds


def _parallelism(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not str(value).strip().isdigit():
        raise BadInput(f"{what} must be a whole number, not '{value}'", hint="0 means all at once")
    return int(str(value).strip())


def _ratio(value: Any, what: str) -> float:
    try:
        ratio = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise BadInput(f"{what} must be between 0 and 1, not '{value}'", hint="e.g. 0.25")
    return ratio


def _flag(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise BadInput(f"{what} must be true or false, not '{value}'", hint="true or false")


def _choice(options: tuple[str, ...], optional: bool = False) -> Callable[[Any, str], Any]:
    def parse(value: Any, what: str) -> Any:
        if value is None and optional:
            return None
        if value not in options:
            raise BadInput(
                f"{what} must be one of {', '.join(options)}, not '{value}'", hint=options[0]
            )
        return value

    return parse


_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "strategy": _choice(get_args(Strategy)),
    "max_surge": _count,
    "max_unavailable": _unavailable,
    "parallelism": _parallelism,
    "delay": _seconds,
    "order": _choice(get_args(Order), optional=True),
    "failure_action": _choice(get_args(FailureAction)),
    "monitor": _seconds,
    "max_failure_ratio": _ratio,
    "min_ready": _seconds,
    "timeout": _timeout,
    "drain_timeout": _optional_seconds,
    "name_when_ready": _flag,
    "deregistration_delay": _seconds,
    "probe_interval": _seconds,
}
