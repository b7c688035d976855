"""The rollout form: version and strategy, prefilled from agentlab.yaml and update_config."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import get_args

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from agentlab.lab.catalogue import VersionRow
from agentlab.rollout.settings import FailureAction, RolloutSettings, Strategy
from agentlab.tui.screens.dialog import Dialog


@dataclass(frozen=True)
class RolloutRequest:
    """What the form asks for: a version, and only the settings the user changed."""

    version: str
    options: dict[str, str]


def default_version(rows: list[VersionRow]) -> str | None:
    """The next allowed version after the current one; else the newest other one; else the
    current one (`rows` are semver-sorted, as `lab.versions` returns them)."""
    allowed = [row.version for row in rows if not row.blocked]
    current = next((row.version for row in rows if row.current), None)
    later = allowed[allowed.index(current) + 1 :] if current in allowed else []
    others = [version for version in allowed if version != current]
    choices = later or others[-1:] or allowed
    return choices[0] if choices else None


def compose_note(settings: RolloutSettings) -> str:
    """Explain when update_config's vocabulary (parallelism/order) is in force."""
    if settings.parallelism is None and settings.order is None:
        return ""
    order = settings.order or "stop-first"
    return (
        f"update_config applies: parallelism {settings.parallelism}, {order}; "
        "editing max surge or max unavailable replaces it"
    )


def choice(name: str, values: Iterable[str], value: str | None) -> Select[str]:
    """A drop-down of plain values."""
    options = [(v, v) for v in values]
    return Select(
        options, value=Select.NULL if value is None else value, allow_blank=False, id=name
    )


def field(label: str, widget: Widget) -> ComposeResult:
    """A labelled row of the form."""
    with Horizontal(classes="field"):
        yield Label(label)
        yield widget


PROGRESSIVE = ("canary", "blue-green")  # through the traffic layer (agentlab.yaml's steps)


class RolloutForm(Dialog[RolloutRequest]):
    """Version, strategy, max surge, max unavailable, failure action."""

    def __init__(self, service: str, rows: list[VersionRow], settings: RolloutSettings) -> None:
        super().__init__()
        self.service = service
        self.rows = rows
        self.settings = settings

    def compose(self) -> ComposeResult:
        s = self.settings
        allowed = [row.version for row in self.rows if not row.blocked]
        with Vertical(classes="dialog form") as box:
            box.border_title = f"Roll out {self.service}"
            yield from field("Version", choice("version", allowed, default_version(self.rows)))
            strategies = (*get_args(Strategy), *PROGRESSIVE)
            yield from field("Strategy", choice("strategy", strategies, s.strategy))
            yield from field("Max surge", Input(s.max_surge, id="max_surge"))
            yield from field("Max unavailable", Input(s.max_unavailable, id="max_unavailable"))
            yield from field(
                "Failure action",
                choice("failure_action", get_args(FailureAction), s.failure_action),
            )
            if compose_note(s):
                yield Static(compose_note(s), classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Roll out", variant="primary", action="screen.submit")
                yield Button("Cancel", action="screen.cancel")

    def request(self) -> RolloutRequest | None:
        """The form's values; settings equal to the prefilled ones are left out."""
        version = self.query_one("#version", Select).value
        if not isinstance(version, str):
            return None
        prefilled = {
            "strategy": self.settings.strategy,
            "max_surge": self.settings.max_surge,
            "max_unavailable": self.settings.max_unavailable,
            "failure_action": self.settings.failure_action,
        }
        options = {}
        for name, before in prefilled.items():
            widget = self.query_one(f"#{name}")
            value = widget.value if isinstance(widget, Input | Select) else before
            if isinstance(value, str) and value.strip() != before:
                options[name] = value.strip()
        return RolloutRequest(version, options)

    @on(Input.Submitted)
    def action_submit(self) -> None:
        self.dismiss(self.request())
