"""The Textual face of agentlab. Only `agentlab tui` imports this package."""

from __future__ import annotations

import sys

from agentlab.lab.facade import Lab


def run(lab: Lab) -> int:
    """Run the app on a terminal until the user quits (after a switch of environment, the
    app again on the lab in that environment); the exit code is 0. Then a line on stderr
    for each rollout it left paused or cut short, with what to do about it."""
    from agentlab.tui.app import AgentlabApp

    while True:
        app = AgentlabApp(lab)
        app.run()
        if app.switch_to is None:
            for line in app.lab.left_here():
                print(f"warning: {line}", file=sys.stderr)
            return 0
        lab = Lab(lab.project.in_environment(app.switch_to), lab.model.engine_factory)
