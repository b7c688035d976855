"""The lab's registry in the header: its address and whether it answers, read in a
worker when the app starts and every REGISTRY_TICK seconds (a lab without a `registry:`
section shows nothing)."""

from __future__ import annotations

from textual import work

from agentlab.common.errors import AgentlabError
from agentlab.lab.registry import RegistryState
from agentlab.tui.base import LabAppBase, while_running
from agentlab.tui.messages import RegistryRead

REGISTRY_TICK = 5.0  # seconds between two reads of the registry's state


class RegistryHeader(LabAppBase):
    """Keeps `registry` (the last read) and the title that shows it."""

    registry: RegistryState | None = None

    def header_title(self) -> str:
        """`agentlab · PROJECT`, then the registry's address and whether it answers."""
        base = f"agentlab · {self.lab.name}"
        return base if self.registry is None else f"{base} · {self.registry.line()}"

    def follow_registry(self) -> None:
        """Read the registry's state now and every REGISTRY_TICK seconds, if there is one."""
        if self.lab.project.settings.registry is None:
            return
        self.read_registry()
        self.set_interval(REGISTRY_TICK, self.read_registry)

    @work(thread=True, exclusive=True, group="registry", exit_on_error=False)
    def read_registry(self) -> None:
        try:
            self.post_safely(RegistryRead(self.lab.registry_state()))
        except AgentlabError:  # a broken override: the status line says it; keep the last
            return

    @while_running
    def on_registry_read(self, message: RegistryRead) -> None:
        self.registry = message.state
        self.title = self.header_title()
