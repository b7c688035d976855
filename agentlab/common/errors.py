"""The exception tree. Every error carries its exit code and a one-line hint.

Exit codes: 0 done, 1 operation failed, 2 bad input, 3 engine unavailable (and 130 when
the user interrupts a command with Ctrl-C, 143 on SIGTERM: common/processes.py). The hint
is required: every error the user sees says what to do next.
"""

from __future__ import annotations


class AgentlabError(Exception):
    """Base of every error agentlab reports to a user."""

    exit_code = 1

    def __init__(self, message: str, hint: str, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details  # e.g. log tails, shown indented below the line

    def one_line(self) -> str:
        """The message and its hint on one line, as the CLI prints it."""
        text = " ".join(self.message.split())
        return f"{text} (hint: {self.hint})" if self.hint else text


class BadInput(AgentlabError):
    """The user asked for something invalid; nothing was changed."""

    exit_code = 2


class EngineUnavailable(AgentlabError):
    """No docker CLI, no reachable engine, or no Compose v2."""

    exit_code = 3


class OperationFailed(AgentlabError):
    """The operation ran and failed (unhealthy, rolled back, paused)."""

    exit_code = 1


class LockBusy(OperationFailed):
    """Another mutating agentlab command holds the project lock."""


class InterruptedRollout(OperationFailed):
    """A rollout was interrupted; resume or undo it first."""
