"""Ask for a running canary's weight (0-100 %), set by hand."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from agentlab.common.errors import BadInput
from agentlab.rollout.canary_requests import WeightRequest, weight_request
from agentlab.tui.screens.dialog import Dialog


class WeightDialog(Dialog[WeightRequest]):
    """A weight; enter sends it, bad input says why in one line and changes nothing."""

    def __init__(self, service: str, weight: int | None) -> None:
        super().__init__()
        self.service = service
        self.weight = weight  # the canary's weight now, prefilled

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small") as box:
            box.border_title = f"Canary weight of {self.service}"
            yield Input("" if self.weight is None else str(self.weight), id="weight")
            yield Static("", id="weight-error", classes="hint")
            yield Static("0-100 % of requests to the canary, held there until promote, "
                         "abort or another weight · enter sends · esc cancels",
                         classes="hint")  # fmt: skip

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(weight_request(event.value, self.service))
        except BadInput as error:
            self.query_one("#weight-error", Static).update(Text(error.message, style="bold red"))
