"""The command palette entries: the same actions as the keys."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from agentlab.tui.keys import COMMANDS


class LabCommands(Provider):
    """Offers every lab action by its title, with its key in the help text."""

    async def discover(self) -> Hits:
        for command in COMMANDS:
            yield DiscoveryHit(
                command.title,
                partial(self.app.run_action, command.action),
                help=f"{command.help} (key {command.key})",
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in COMMANDS:
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.title),
                    partial(self.app.run_action, command.action),
                    help=f"{command.help} (key {command.key})",
                )
