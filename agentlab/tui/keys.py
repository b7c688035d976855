"""Every user action once: its key and footer label, its palette title and help."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class LabCommand:
    """One action, reachable by a key (shown in the footer; the canary's only while a
    canary runs, see tui/canary_actions.py) and from the command palette."""

    key: str
    action: str
    label: str
    title: str
    help: str
    footer: bool = True  # shown in the footer (else the screen that needs it says it)


COMMANDS = (
    LabCommand("v", "set_version", "Version", "Set version", "pick a local version and roll out"),
    LabCommand("r", "rollout", "Rollout", "Rollout", "roll out with strategy settings (prefilled)"),
    LabCommand("p", "pause", "Pause", "Pause rollout", "stop the running rollout after its step"),
    LabCommand("c", "resume", "Resume", "Resume rollout", "finish a paused or interrupted rollout"),
    LabCommand("z", "undo", "Undo", "Undo rollout", "return a paused rollout to the old version"),
    LabCommand("o", "promote", "Promote", "Promote canary", "skip a running canary to 100%"),
    LabCommand(
        "a", "abort", "Abort", "Abort canary", "every request back to stable, canary removed"
    ),
    LabCommand(
        "w",
        "set_weight",
        "Weight",
        "Set canary weight",
        "send N% of requests to the running canary now, and hold there",
    ),
    LabCommand(
        "e", "environments", "Envs", "Environments", "environments side by side; switch", False
    ),
    LabCommand("b", "rollback", "Rollback", "Roll back", "roll back to a revision from history"),
    LabCommand(
        "t",
        "traffic",
        "Traffic",
        "Start/stop traffic",
        "requests to the entry point, per version",
    ),
    LabCommand("l", "logs", "Logs", "Show logs", "the recent logs of the selected replica"),
    LabCommand("x", "kill", "Kill", "Kill replica", "SIGKILL the selected replica"),
    LabCommand("s", "scale", "Scale", "Scale service", "run N replicas of the selected service"),
    LabCommand("u", "up", "Up", "Bring the lab up", "start every service and wait for health"),
    LabCommand("d", "down", "Down", "Bring the lab down", "remove the project's containers"),
)


def bindings() -> list[BindingType]:
    """The app's key bindings, in footer order, then quit."""
    keys: list[BindingType] = [Binding(c.key, c.action, c.label, show=c.footer) for c in COMMANDS]
    return [*keys, Binding("q", "quit", "Quit")]
