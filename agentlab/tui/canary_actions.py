"""A running canary from the TUI: promote, abort and set weight (keys in the footer while
a canary runs), and its per-version traffic, sampled off the UI thread for the panel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from textual import work

from agentlab.common.errors import AgentlabError
from agentlab.lab.canaries import CanaryView
from agentlab.lab.canary_meter import CanaryMeter
from agentlab.lab.facade import Lab
from agentlab.rollout.canary_requests import Request, WeightRequest, describe
from agentlab.tui.base import LabAppBase, internal_error, local_now, while_running
from agentlab.tui.messages import CanaryTrafficRead, Task
from agentlab.tui.screens.weight import WeightDialog
from agentlab.tui.widgets.rollout import RolloutPanel
from agentlab.versions import image_tag

CANARY_ACTIONS = ("promote", "abort", "set_weight")
TRAFFIC_TICK = 2.0  # seconds: the window of the canary panel's per-version figures
NO_LAYER = "per-version figures need the traffic layer (agentlab up --traffic-layer SERVICE)"


class CanaryActions(LabAppBase):
    """The canary's keys and the canary panel's traffic figures."""

    def __init__(self, lab: Lab, clock: Callable[[], datetime] = local_now) -> None:
        super().__init__(lab, clock)
        self.canary_keys = False  # the footer shows the canary's keys
        self.meter: tuple[str, CanaryMeter | None] | None = None  # (service, its meter)
        self.sampling = False  # a sample is being read

    # ---- keys ---------------------------------------------------------------

    def _following_canary(self) -> bool:
        """This app runs (or its watcher runs) a canary and follows its events."""
        view = self.rollout
        return view is not None and view.running and view.progressive

    def canary_runs(self) -> bool:
        """A canary runs: this app's, or one another process runs (the last status)."""
        return self._following_canary() or bool(self._running_elsewhere())

    def running_canary(self) -> str | None:
        """The canary the keys act on: the one this app follows, else one running
        elsewhere (the selected service's, else the first)."""
        if self.rollout is not None and self._following_canary():
            return self.rollout.service
        running = self._running_elsewhere()
        if not running:
            return None
        selected = self.selected_service  # a status is shown: the main screen is there
        return selected if selected in running else next(iter(running))

    def _running_elsewhere(self) -> dict[str, CanaryView]:
        """The canaries another process runs, by service (the last status): not those
        left unfinished, which take no request."""
        canaries = self.status.canaries if self.status is not None else {}
        return {name: view for name, view in canaries.items() if view.running}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The canary's keys work (and show in the footer) only while a canary runs."""
        return action not in CANARY_ACTIONS or self.canary_runs()

    def canary_changed(self) -> None:
        """Show or hide the canary's keys in the footer when a canary starts or ends."""
        running = self.canary_runs()
        if running != self.canary_keys:
            self.canary_keys = running
            self.refresh_bindings()

    def action_promote(self) -> None:
        self._request_canary("promote")

    def action_abort(self) -> None:
        self._request_canary("abort")

    def action_set_weight(self) -> None:
        service = self.running_canary()
        if service is None:
            self.notify("no canary is running", severity="warning")
            return
        view = self.rollout
        weight = view.weight if view is not None and view.service == service else None

        def send(request: WeightRequest | None) -> None:
            if request is not None:
                self._request_canary(request, service)

        self.push_screen(WeightDialog(service, weight), send)

    def _request_canary(self, request: Request, service: str | None = None) -> None:
        service = service or self.running_canary()
        if service is None:
            self.notify("no canary is running", severity="warning")
            return
        what = describe(request)
        self.run_task(
            Task(
                f"{what} {service}",
                lambda: self.lab.request_canary(service, request),
                lambda _: self.record(f"{what} sent to the canary of {service}", "bold"),
            )
        )

    # ---- per-version traffic ------------------------------------------------

    @while_running
    def tick_canary_traffic(self) -> None:
        """Sample the followed canary's traffic in a worker (one sample at a time)."""
        view = self.rollout
        if view is None or not self._following_canary():
            self.meter = None
            return
        if self.meter is None:  # a canary starts: nothing from an earlier one
            self.main(RolloutPanel).show_traffic(view, None, "measuring...")
        if not self.sampling:
            self.sampling = True
            stable, canary = image_tag(view.from_version), image_tag(view.to_version)
            self._sample(view.service, canary, stable)

    @work(thread=True, exit_on_error=False, group="canary-traffic")
    def _sample(self, service: str, canary: str, stable: str) -> None:
        try:
            if self.meter is None or self.meter[0] != service:
                self.meter = (service, self.lab.canary_meter(service))
            meter = self.meter[1]
            if meter is None:
                self.post_safely(CanaryTrafficRead(service, None, NO_LAYER))
                return
            traffic = meter.sample(canary, stable)
        except (AgentlabError, OSError, ValueError) as error:  # the proxy restarting...
            self.post_safely(CanaryTrafficRead(service, None, f"figures unavailable: {error}"))
            return
        except Exception as error:  # a bug: say it, and sample again at the next tick
            self.post_safely(CanaryTrafficRead(service, None, internal_error(error)))
            return
        note = "" if traffic is not None else "measuring..."
        self.post_safely(CanaryTrafficRead(service, traffic, note))

    @while_running
    def on_canary_traffic_read(self, message: CanaryTrafficRead) -> None:
        self.sampling = False
        view = self.rollout
        if view is not None and view.service == message.service:
            self.main(RolloutPanel).show_traffic(view, message.traffic, message.note)
