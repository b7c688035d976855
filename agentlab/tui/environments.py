"""The environment switcher's action: `e` shows every environment side by side, and
choosing one ends this app so that `run` opens the lab in that environment."""

from __future__ import annotations

from agentlab.lab.environments import ServiceAcross, compare
from agentlab.project.environments import DEFAULT_ENVIRONMENT
from agentlab.tui.base import LabAppBase
from agentlab.tui.messages import Task
from agentlab.tui.screens.environments import EnvironmentsScreen


class EnvironmentActions(LabAppBase):
    """The `environments` action; `switch_to` names the environment to open next."""

    switch_to: str | None = None

    def environment_names(self) -> list[str]:
        return [DEFAULT_ENVIRONMENT, *self.lab.project.settings.environments]

    def action_environments(self) -> None:
        names = self.environment_names()
        project, factory = self.lab.project, self.lab.model.engine_factory
        self.run_task(
            Task(
                "environments",
                lambda: compare(project, names, factory),
                lambda rows: self._show_environments(names, rows),
            )
        )

    def _show_environments(self, names: list[str], rows: list[ServiceAcross]) -> None:
        self.push_screen(
            EnvironmentsScreen(self.lab.environment, names, rows), self._switch_environment
        )

    def _switch_environment(self, name: str | None) -> None:
        if name is None:
            return
        if self.rollout is not None and self.rollout.running:
            self.notify(f"the rollout of {self.rollout.service} is running (p pauses it)",
                        severity="warning")  # fmt: skip
            return
        self.switch_to = name
        self.exit()
