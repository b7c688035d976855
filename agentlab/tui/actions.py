"""What the user can do: one action per key and palette entry, each a lab call in a worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from textual.notifications import SeverityLevel

from agentlab.lab.catalogue import VersionRow
from agentlab.lab.rollout_io import failure_details
from agentlab.rollout.phase import RolloutResult
from agentlab.rollout.settings import RolloutSettings
from agentlab.state.history_records import Revision
from agentlab.traffic.load import TrafficGenerator, TrafficReport
from agentlab.tui.base import while_running
from agentlab.tui.canary_actions import CanaryActions
from agentlab.tui.messages import Task
from agentlab.tui.screens.confirm import ConfirmDialog
from agentlab.tui.screens.logs import LogsScreen
from agentlab.tui.screens.rollback import RollbackPicker
from agentlab.tui.screens.rollout_form import RolloutForm, RolloutRequest
from agentlab.tui.screens.scale import ScaleDialog
from agentlab.tui.screens.versions import VersionPicker
from agentlab.tui.widgets.traffic import TrafficPanel

TRAFFIC_RPS = 20.0
TRAFFIC_TICK = 1.0  # seconds between redraws of the traffic panel while traffic runs
UP_TIMEOUT = 120.0
LOG_LINES = 200
OUTCOME_SEVERITY: dict[str, SeverityLevel] = {
    "complete": "information",
    "undone": "information",
    "paused": "warning",
}


class LabActions(CanaryActions):
    """The actions behind the keys and the command palette (the canary's: CanaryActions)."""

    # ---- guards -------------------------------------------------------------

    def _service(self) -> str | None:
        """The selected service, or None after telling the user why not."""
        service = self.selected_service
        if service is None:
            self.notify("select a service first", severity="warning")
        return service

    def _idle(self) -> bool:
        """False (and a hint) while a rollout runs: one at a time."""
        if self.rollout is not None and self.rollout.running:
            self.notify(
                f"the rollout of {self.rollout.service} is running (p pauses it)",
                severity="warning",
            )
            return False
        return True

    # ---- versions and rollouts ----------------------------------------------

    def action_set_version(self) -> None:
        service = self._service()
        if service is None or not self._idle():
            return
        self.run_task(
            Task(
                f"versions of {service}",
                lambda: self.lab.versions(service)[service],
                lambda rows: self.push_screen(
                    VersionPicker(service, rows),
                    lambda version: (
                        self._roll_out(service, RolloutRequest(version, {})) if version else None
                    ),
                ),
            )
        )

    def action_rollout(self) -> None:
        service = self._service()
        if service is None or not self._idle():
            return

        def load() -> tuple[list[VersionRow], RolloutSettings]:
            return self.lab.versions(service)[service], self.lab.rollout_settings(service)

        def ask(found: tuple[list[VersionRow], RolloutSettings]) -> None:
            rows, settings = found
            if all(row.blocked for row in rows):
                self.notify(f"{service} has no version to roll out to", severity="warning")
                return
            self.push_screen(
                RolloutForm(service, rows, settings),
                lambda request: self._roll_out(service, request) if request else None,
            )

        self.run_task(Task(f"settings of {service}", load, ask))

    def _roll_out(self, service: str, request: RolloutRequest) -> None:
        cause = f"tui rollout {service} --to {request.version}"
        self._run_rollout(
            f"rollout {service} → {request.version}",
            service,
            lambda: self.lab.rollout(
                service,
                request.version,
                request.options,
                self.emit,
                cause=cause,
                pause=self.pause_flag.is_set,
            ),
        )

    def _run_rollout(self, title: str, service: str, call: Callable[[], RolloutResult]) -> None:
        """Rollout, rollback, resume and undo: the runner's events drive the rollout panel.
        The watcher holds off meanwhile: this rollout's pins are no edit to roll out."""

        def held() -> RolloutResult:
            try:
                with self.watcher.hold(service):
                    return call()
            finally:
                self.rollout_idle.set()

        self.pause_flag.clear()
        self.rollout_idle.clear()
        self.run_task(Task(title, held, self._rollout_done, self._rollout_broke))

    def _rollout_broke(self, error: str) -> None:
        """The runner raised (the engine went away...): the panel must not stay "running"."""
        if self.rollout is not None and self.rollout.running:
            self.rollout = replace(self.rollout, outcome="failed", message=error)

    def _rollout_done(self, result: RolloutResult) -> None:
        self.lab.reload()
        severity = OUTCOME_SEVERITY.get(result.outcome, "error")
        hint = f" (hint: {result.hint})" if result.hint else ""
        self.notify(
            f"{result.message}{hint}", title=result.outcome, severity=severity, markup=False
        )
        details = failure_details(result)
        if details:
            self.record(details, "dim")

    def action_pause(self) -> None:
        if self.rollout is None or not self.rollout.running:
            others = self.status.elsewhere if self.status else ()
            there = f"{others[0].line()}: Ctrl-C there stops it" if others else ""
            self.notify(there or "no rollout is running", severity="warning", markup=False)
            return
        if self.watcher.rolling == self.rollout.service:
            self.watcher.pause()  # a rollout an edit started
        else:
            self.pause_flag.set()
        self.notify(f"pausing the rollout of {self.rollout.service} after this step")

    def action_resume(self) -> None:
        self._continue(undo=False)

    def action_undo(self) -> None:
        self._continue(undo=True)

    def _continue(self, undo: bool) -> None:
        paused = self.rollout.service if self.rollout and self.rollout.outcome == "paused" else None
        service = paused or self._service()
        if service is None or not self._idle():
            return
        self._run_rollout(
            f"{'undo' if undo else 'resume'} {service}",
            service,
            lambda: self.lab.continue_rollout(
                service, undo, self.emit, pause=self.pause_flag.is_set
            ),
        )

    def action_rollback(self) -> None:
        service = self._service()
        if service is None or not self._idle():
            return

        def load() -> tuple[list[Revision], int | None, int | None]:
            self.lab.service(service)
            history = self.lab.history()
            current, previous = history.current(service), history.previous(service)
            return (history.revisions(service), current.number if current else None,
                    previous.number if previous else None)  # fmt: skip

        def ask(found: tuple[list[Revision], int | None, int | None]) -> None:
            revisions, current, previous = found
            if not revisions:
                self.notify(f"{service} has no revisions yet", severity="warning")
                return
            self.push_screen(
                RollbackPicker(service, revisions, current, previous),
                lambda number: self._roll_back(service, number) if number else None,
            )

        self.run_task(Task(f"history of {service}", load, ask))

    def _roll_back(self, service: str, number: int) -> None:
        self._run_rollout(
            f"rollback {service} → #{number}",
            service,
            lambda: self.lab.rollback(service, number, self.emit, pause=self.pause_flag.is_set),
        )

    # ---- traffic ------------------------------------------------------------

    def action_traffic(self) -> None:
        if {"start traffic", "stop traffic"} & set(self.busy):
            return  # the last press is still being carried out
        if self.traffic is None:
            self.run_task(Task("start traffic", self._start_traffic, self._traffic_started))
        else:
            generator, self.traffic = self.traffic, None
            if self.traffic_ticks is not None:
                self.traffic_ticks.stop()
            self.run_task(Task("stop traffic", generator.stop, self._traffic_stopped))

    def _start_traffic(self) -> TrafficGenerator:
        generator = TrafficGenerator(self.lab.traffic_url(), TRAFFIC_RPS)
        generator.start()
        return generator

    def _traffic_started(self, generator: TrafficGenerator) -> None:
        self.traffic = generator
        self.record(f"traffic: {generator.rps:g} req/s to {generator.url}", "cyan")
        self.tick_traffic()
        self.traffic_ticks = self.set_interval(TRAFFIC_TICK, self.tick_traffic)

    def _traffic_stopped(self, report: TrafficReport) -> None:
        self.main(TrafficPanel).show(report, running=False)
        for line in report.lines():
            self.record(f"traffic: {line}", "cyan")

    @while_running
    def tick_traffic(self) -> None:
        """Redraw the traffic panel from the generator's counters (no Docker call)."""
        if self.traffic is not None:
            self.main(TrafficPanel).show(self.traffic.snapshot(), running=True)

    # ---- replicas -----------------------------------------------------------

    def action_logs(self) -> None:
        replica = self.selected_replica
        if replica is None:
            self.notify("select a replica first", severity="warning")
            return
        self.run_task(
            Task(
                f"logs of {replica.name}",
                lambda: self.lab.logs(replica.id, LOG_LINES),
                lambda text: self.push_screen(LogsScreen(replica.name, text)),
            )
        )

    def action_kill(self) -> None:
        replica = self.selected_replica
        if replica is None:
            self.notify("select a replica first", severity="warning")
            return
        self.run_task(
            Task(
                f"kill {replica.name}",
                lambda: self.lab.kill(replica.id),
                lambda killed: self.record(f"killed {killed.name}", "red"),
            )
        )

    def action_scale(self) -> None:
        service = self._service()
        if service is None:
            return
        known = self.service_status(service)
        self.push_screen(
            ScaleDialog(service, len(known.replicas) if known else 1),
            lambda count: self._scale(service, count) if count is not None else None,
        )

    def _scale(self, service: str, count: int) -> None:
        def done(_: None) -> None:
            self.lab.reload()
            self.record(f"{service} runs {count} replica(s)", "cyan")

        self.run_task(
            Task(f"scale {service} to {count}", lambda: self.lab.scale(service, count), done)
        )

    # ---- the whole lab ------------------------------------------------------

    def action_up(self) -> None:
        def done(_: object) -> None:
            self.lab.reload()
            self.record(f"project {self.lab.name} is up", "green")

        self.run_task(
            Task("up", lambda: self.lab.up(None, {}, UP_TIMEOUT, self.progress, "tui up"), done)
        )

    def action_down(self) -> None:
        self.push_screen(
            ConfirmDialog(
                "Bring the lab down",
                f"Remove every container and network of project {self.lab.name}?",
            ),
            lambda yes: self._down() if yes else None,
        )

    def _down(self) -> None:
        self.run_task(
            Task(
                "down",
                lambda: self.lab.down(False),
                lambda _: self.record(f"project {self.lab.name} is down", "yellow"),
            )
        )

    async def action_quit(self) -> None:
        """Quit; a running rollout first pauses after its step (resumable later), the
        screen drawn meanwhile. A second `q` quits at once (the process still ends only
        once the rollout has paused). The app's own rollout counts from its start, before
        its first event (while it builds)."""
        running = self.rollout is not None and self.rollout.running
        if self.quitting or (self.rollout_idle.is_set() and not running):
            self.exit()
            return
        self.quitting = True
        self.pause_flag.set()
        which = (
            f"the rollout of {self.rollout.service}" if running and self.rollout else "the rollout"
        )
        line = f"pausing {which} after its current step, then quitting"
        self.notify(f"{line} (q again quits now)", severity="warning")
        self.record(line, "yellow")
        self.run_task(Task("pause and quit", self._pause_all, self._quit, self._quit))

    def _pause_all(self) -> None:
        """Stop the watcher (its rollout pauses at its next step); wait for the app's own."""
        self.watcher.stop()
        self.rollout_idle.wait()

    def _quit(self, _: object) -> None:
        self.exit()
