"""Scripted mode's entry: parse arguments, run a command, map errors to exit codes.

The terminal UI is another face: `agentlab tui` (or a bare `agentlab` on a terminal)
calls `open_tui`, which the program's entry point (agentlab/__main__.py) supplies, so
this package never imports agentlab.tui, and scripted mode never imports Textual.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from agentlab import __version__
from agentlab.cli import (
    canary_commands,
    commands,
    commands_base,
    environment_commands,
    prometheus_commands,
    registry_commands,
    values,
)
from agentlab.cli.closed_pipe import reader_safe_stdout
from agentlab.common.errors import AgentlabError, BadInput, InterruptedRollout
from agentlab.common.processes import on_sigterm, stop_reason
from agentlab.lab.facade import Lab
from agentlab.project.location import load_project

OpenTui = Callable[[Lab], int]

EPILOG = """exit codes: 0 done, 1 operation failed (unhealthy, rolled back, paused),
2 bad input (nothing changed), 3 engine unavailable, 130 interrupted (Ctrl-C),
143 terminated (SIGTERM)"""

DRIFT_HELP = """agentlab drift: each difference from what was decided, one line with a hint.

The decision per managed service: agentlab.lock's section for this environment (-e; the
section `default` without it) when there is one, else the pin and its revision's image.
Kinds (--json `kind`):
  tag_moved            the tag names another build here, or in the lab's registry
                       (one HEAD per tag, 2 s bound) than the locked or recorded digest
  replica_image        a replica runs another image than the decision
  not_locked           the service runs a version the lock does not list
  config_edited        a replica runs a configuration the compose files no longer give
  unrouted             a ready replica the traffic layer's proxy does not route to
                       (it restarted with no server): `up` puts the routes back
  environment_differs  another running environment runs the same version of the
                       service on other bytes (other versions are `agentlab diff`'s job)
exit: 1 drift; 3 no drift found but the registry did not answer (its tags unknown);
0 nothing differs."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line and exit code 2, and takes `-1s` or
    `-10,100` for a value (that agentlab.cli.values refuses), not for an unknown option."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = values.NEGATIVE

    def error(self, message: str) -> NoReturn:
        raise BadInput(message, hint=f"{self.prog} --help")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="agentlab",
        description="Run a Docker Compose project as a release lab.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"agentlab {__version__}")
    parser.add_argument(
        "-f",
        "--file",
        action="append",
        dest="files",
        metavar="COMPOSE",
        help="compose file (repeatable); default: $AGENTLAB_FILE, else $COMPOSE_FILE, else "
        "compose.yaml (and its compose.override.yaml) here or in the nearest parent "
        "directory, else the demo lab",
    )
    parser.add_argument(
        "-p",
        "--project-name",
        dest="project",
        metavar="PROJECT",
        help="compose project name (default: $COMPOSE_PROJECT_NAME, from the environment or "
        "./.env, then agentlab.yaml's project, then Compose's)",
    )
    parser.add_argument(
        "-e",
        "--env",
        metavar="ENV",
        help="environment (default: $AGENTLAB_ENV, else none): the lab as its own compose "
        "project <project>-<ENV>, with its own state, ports and policy (dev, staging, prod, "
        "or agentlab.yaml's environments:; with a registry, prod runs only the digests "
        "agentlab.lock records)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)

    up = sub.add_parser(
        "up",
        help="bring the lab up at chosen versions and wait until healthy",
        description="Bring the lab up at chosen versions and wait until healthy. A running "
        "service whose image changes (by --version or --set, or edited in the compose "
        "file), or whose configuration is edited there (environment, command, volumes...), "
        "is rolled out one replica at a time, not recreated all at once.",
    )
    up.add_argument(
        "--version",
        dest="target",
        help="version or range for the primary service(s), e.g. v1.3.0, ^1.2",
    )
    up.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SERVICE=VERSION",
        help="pin one service (repeatable)",
    )
    up.add_argument(
        "--timeout",
        type=values.SECONDS,
        default=120.0,
        metavar="S",
        help="seconds to wait for health (default 120)",
    )
    up.add_argument(
        "--traffic-layer",
        action="append",
        default=[],
        metavar="SERVICE",
        help="put SERVICE behind agentlab's proxy (repeatable; kept for later commands): "
        "its published ports move to the proxy, so its replicas can surge",
    )
    up.add_argument(
        "--json", action="store_true", help="print the resulting status (or the plan) as JSON"
    )
    up.add_argument(
        "--dry-run",
        action="store_true",
        help="run every check, print what up would do (pins, rollouts, starts, builds, "
        "fetches, traffic layer), change nothing",
    )
    registry_commands.add_up_flags(up)

    status = sub.add_parser("status", help="every service and replica")
    status.add_argument("--json", action="store_true", help="JSON for scripts")

    drift = sub.add_parser(
        "drift",
        help="what differs from what was decided (the pin, or agentlab.lock): a moved tag, "
        "here or in the registry, a replica on another image, a version the lock does not "
        "list, another environment on other bytes (exit 1 when anything does; 3 when the "
        "registry's tags are unknown: it did not answer, or answered an error)",
    )
    drift.description = DRIFT_HELP
    drift.formatter_class = argparse.RawDescriptionHelpFormatter
    drift.add_argument("--json", action="store_true", help="JSON for scripts")

    down = sub.add_parser("down", help="remove the project's containers and networks")
    down.add_argument(
        "--volumes", action="store_true", help="also remove its volumes, named and anonymous"
    )

    versions = sub.add_parser("versions", help="local and buildable versions per service")
    versions.add_argument("service", nargs="?")
    versions.add_argument("--json", action="store_true")

    imgs = sub.add_parser("images", help="build or list the version catalogue")
    img_sub = imgs.add_subparsers(
        dest="images_command", metavar="ACTION", parser_class=OneLineParser, required=True
    )
    build = img_sub.add_parser(
        "build",
        help="build missing images with OCI labels: the catalogue, or a version of the "
        "services Compose builds",
    )
    build.add_argument(
        "--version", dest="target", help="only this version (services with build: need one)"
    )
    build.add_argument(
        "--from-git",
        action="store_true",
        help="for services with build:, the version git gives their source "
        "(a release tag, else a prerelease with the commit)",
    )
    build.add_argument("--service", help="only this service")
    build.add_argument("--force", action="store_true", help="rebuild images that exist")
    build.add_argument(
        "--base-image",
        help="BASE_IMAGE for Dockerfiles that declare that ARG (default $AGENTLAB_BASE_IMAGE; "
        "else a Dockerfile's own default, or python:3.12-slim for agentlab.yaml's catalogue)",
    )
    listing = img_sub.add_parser("list", help="local tags per managed service, semver-sorted")
    listing.add_argument("--json", action="store_true")
    registry_commands.add_image_parsers(img_sub)
    registry_commands.add_parsers(sub)

    scale = sub.add_parser(
        "scale", help="run N replicas of a service at its pinned version (kept for rollouts)"
    )
    scale.add_argument("service")
    scale.add_argument("replicas", type=int)
    scale.add_argument("--timeout", type=values.SECONDS, default=120.0, metavar="S")
    kill = sub.add_parser("kill", help="SIGKILL one replica (a health-check drill)")
    kill.add_argument("container", help="container name or id")
    logs = sub.add_parser("logs", help="the tail of one replica's logs")
    logs.add_argument("container", help="container name or id")
    logs.add_argument("-n", "--lines", type=values.COUNT, default=50)
    watch = sub.add_parser(
        "watch",
        help="roll out the versions that edits to the config ask for; report drift (and "
        "what it cannot compare, as drift says it)",
    )
    watch.add_argument("--duration", type=values.SECONDS, metavar="S", help="stop after S seconds")
    watch.add_argument("--json", action="store_true", help="one JSON event per line")

    commands.add_rollout_parsers(sub)
    canary_commands.add_parser(sub)
    prometheus_commands.add_parsers(sub)
    environment_commands.add_parsers(sub)  # diff; promote --from/--to
    sub.add_parser("tui", help="the terminal UI: the lab live, every action a key away")
    return parser


def no_tui(_: Lab) -> int:
    raise BadInput("the terminal UI is not available from here", hint="run the `agentlab` program")


def main(argv: Sequence[str] | None = None, open_tui: OpenTui = no_tui) -> int:
    """Run one command; return its exit code. `open_tui` runs the terminal UI."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    before = None
    command: str | None = None
    commands_base.OPENED.clear()
    commands_base.HELD.clear()
    try:
        args = build_parser().parse_args(args_list)
        if args.command is None:
            if sys.stdout.isatty() and sys.stdin.isatty():
                args = build_parser().parse_args([*args_list, "tui"])
            else:
                build_parser().print_help()
                return 0
        command = args.command
        if args.command == "tui":
            return open_tui(Lab(load_project(args.files, args.project, args.env)))
        if threading.current_thread() is threading.main_thread():
            before = signal.signal(signal.SIGTERM, on_sigterm)
        with reader_safe_stdout(), commands_base.warnings_first():
            return commands.run(args)
    except AgentlabError as error:
        said = error.message if isinstance(error, InterruptedRollout) else ""
        commands_base.say_warnings(but=said)  # the error says that one, with its hint
        print(f"error: {error.one_line()}", file=sys.stderr)
        if error.details:
            print(error.details, file=sys.stderr)
        return error.exit_code
    except Exception as error:  # a bug: still one line, the traceback only on request
        if os.environ.get("AGENTLAB_DEBUG"):
            raise
        commands_base.say_warnings()
        print(
            f"error: internal error: {type(error).__name__}: {error} "
            "(hint: rerun with AGENTLAB_DEBUG=1 and report it)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt as stop:
        what, code = stop_reason(stop)
        commands_base.say_warnings()
        hint = commands_base.interrupt_hint(command)
        print(f"error: {what} (hint: {hint})", file=sys.stderr)
        return code
    finally:
        commands_base.say_warnings()  # after a command that said nothing, as --json ones
        if before is not None:
            signal.signal(signal.SIGTERM, before)
