"""The Textual face of agentlab. Only `agentlab tui` imports this package."""

from __future__ import annotations

from agentlab.lab.facade import Lab


def run(lab: Lab) -> int:
    """Run the app on a terminal until the user quits (after a switch of environment, the
    app again on the lab in that environment); the exit code is 0."""
    from agentlab.tui.app import AgentlabApp

    while True:
        app = AgentlabApp(lab)
        app.run()
        if app.switch_to is None:
            return 0
        lab = Lab(lab.project.in_environment(app.switch_to), lab.model.engine_factory)
