"""The rollout panel: step, progress bar, ready/total, and old and new replicas side by side."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Static

from agentlab.engine.model import Replica
from agentlab.lab.canary_meter import CanaryTraffic
from agentlab.lab.status import RunningElsewhere, ServiceStatus
from agentlab.tui.rollout_view import RolloutView
from agentlab.tui.view import coloured, replica_health, tag_of
from agentlab.tui.widgets.canary_traffic import traffic_text


def replica_list(title: str, replicas: list[Replica]) -> Text:
    """A heading and one line per replica with its health in colour."""
    lines = [Text(title, style="bold")]
    lines += [Text.assemble(f"{r.name}  ", coloured(replica_health(r))) for r in replicas]
    if not replicas:
        lines.append(Text("none", style="dim"))
    return Text("\n").join(lines)


BAR_WIDTH = 30
VERDICT_STYLES = {"pass": "green", "fail": "bold red", "inconclusive": "yellow"}


def canary_text(view: RolloutView) -> Text:
    """A canary's steps (the current one marked), the weight bar, each gate's reading."""
    steps = []
    for number, line in enumerate(view.canary_steps):
        style = "bold reverse" if number == view.canary_at else (
            "dim" if number > view.canary_at else "green")  # fmt: skip
        steps.append(Text(f" {number + 1}. {line} ", style=style))
    lines = [Text.assemble(("Steps ", "bold"), *steps)]
    if view.weight is not None:
        new = round(BAR_WIDTH * view.weight / 100)
        how = "" if view.weight_exact else "  (by replica count, approximately)"
        lines.append(Text.assemble(
            ("Weight ", "bold"), f"{view.from_version} {100 - view.weight}% ",
            ("█" * (BAR_WIDTH - new), "blue"), ("█" * new, "magenta"),
            f" {view.weight}% {view.to_version}{how}",
        ))  # fmt: skip
    if view.held:
        lines.append(Text.assemble(("Held ", "bold"), (view.held, "bold yellow"),
                                   " until promote, abort or another weight"))  # fmt: skip
    for gate, verdict, reading in view.gates:
        lines.append(Text.assemble(("Gate ", "bold"), f"{gate}: ",
                                   (reading, VERDICT_STYLES.get(verdict, ""))))  # fmt: skip
    lines.append(Text("o promotes · a aborts (every request back to the stable version) · "
                      "w sets the weight by hand (held there)", style="dim"))  # fmt: skip
    return Text("\n").join(lines)


def on_screen(view: RolloutView | None) -> bool:
    """Whether the panel follows this rollout: it runs or is paused."""
    return view is not None and view.outcome in (None, "paused")


class RolloutPanel(Vertical):
    """Shown while a rollout runs or is paused; hidden otherwise."""

    def compose(self) -> ComposeResult:
        yield Static(id="step")
        yield Static(id="canary")
        yield Static(id="canary-traffic")
        yield ProgressBar(show_eta=False, id="rollout-progress")
        with Horizontal(id="sides"):
            yield Static(id="old")
            yield Static(id="new")

    def show(self, view: RolloutView | None, service: ServiceStatus | None) -> None:
        """Follow `view`; `service` supplies the live replicas of the service rolling out."""
        self.display = on_screen(view)
        if view is None or not self.display:
            return
        self.border_title = view.title
        step = Text.assemble(
            ("Step ", "bold"),
            view.step,
            "  ·  ",
            ("Ready ", "bold"),
            f"{view.ready}/{view.total}",
            "  ·  ",
            ("Updated ", "bold"),
            f"{view.updated}/{view.desired}",
        )
        self.query_one("#step", Static).update(step)
        progressive = self.query_one("#canary", Static)
        progressive.display = view.progressive
        self.query_one("#canary-traffic", Static).display = view.progressive
        if view.progressive:
            progressive.update(canary_text(view))
        self.query_one(ProgressBar).display = True
        self.query_one(ProgressBar).update(total=max(view.desired, 1), progress=view.updated)
        self._sides(view.from_version, view.to_version, service)

    def show_elsewhere(self, rollout: RunningElsewhere, service: ServiceStatus | None) -> None:
        """A rollout another agentlab process runs: what it is and the service's replicas
        (its steps are that process's to show and control)."""
        self.display = True
        self.border_title = (
            f"rollout {rollout.service} {rollout.from_version} → {rollout.to_version}"
        )
        self.query_one("#step", Static).update(
            Text.assemble((rollout.line(), "bold"), "; pause or stop it where it runs")
        )
        for part in ("#canary", "#canary-traffic", "#rollout-progress"):
            self.query_one(part).display = False
        self._sides(rollout.from_version, rollout.to_version, service)

    def _sides(self, before: str, after: str, service: ServiceStatus | None) -> None:
        """The service's replicas on the old version and on the new, side by side."""
        replicas = service.replicas if service else []
        new = [r for r in replicas if tag_of(r.image_ref) == after]
        old = [r for r in replicas if r not in new]
        self.query_one("#old", Static).update(replica_list(f"Old · {before}", old))
        self.query_one("#new", Static).update(replica_list(f"New · {after}", new))

    def show_traffic(self, view: RolloutView, traffic: CanaryTraffic | None, note: str) -> None:
        """The canary's per-version figures of the last sample."""
        text = traffic_text(view.from_version, view.to_version, traffic, note)
        self.query_one("#canary-traffic", Static).update(text)
