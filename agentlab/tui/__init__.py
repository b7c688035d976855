"""The Textual face of agentlab. Only `agentlab tui` imports this package."""

from __future__ import annotations

from agentlab.lab.facade import Lab


def run(lab: Lab) -> int:
    """Run the app on a terminal until the user quits; the exit code is 0."""
    from agentlab.tui.app import AgentlabApp

    AgentlabApp(lab).run()
    return 0
