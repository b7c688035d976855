"""Scripted-mode command handlers: each builds a Lab, calls the facade, prints the result."""

from __future__ import annotations

import argparse
import json
import threading
from typing import Any

from agentlab.cli import prometheus_commands
from agentlab.cli.canary_commands import cmd_weight
from agentlab.cli.commands_base import open_lab, say
from agentlab.cli.jsonout import drift_json, emit_json, images_json, status_json, versions_json
from agentlab.cli.plans import show_plan, up_json, up_lines
from agentlab.cli.render import images_table, status_table, terminal_width, versions_text
from agentlab.common.errors import BadInput, OperationFailed
from agentlab.lab import locking
from agentlab.lab.drift import DriftReport, not_running_line, unknown_line
from agentlab.lab.status import LabStatus
from agentlab.rollout.events import RolloutEvent
from agentlab.rollout.journal import resume_hint


def parse_sets(items: list[str]) -> dict[str, str]:
    """`--set SERVICE=VERSION` pairs; malformed ones are bad input."""
    pins = {}
    for item in items:
        service, sep, version = item.partition("=")
        if not sep or not service or not version:
            raise BadInput(
                f"--set expects SERVICE=VERSION, got '{item}'",
                hint=f"--set {service.strip() or 'SERVICE'}=1.2.0",
            )
        pins[service.strip()] = version.strip()
    return pins


def cmd_up(args: argparse.Namespace) -> int:
    sets = parse_sets(args.set)
    if args.locked and (sets or args.target):
        raise BadInput("--locked runs the lock file's versions", hint="drop --version/--set")
    if args.timeout <= 0:
        raise BadInput("--timeout must be positive", hint="--timeout 120")
    lab = open_lab(args)
    if args.dry_run:
        plan = lab.plan_up(args.target, sets, args.traffic_layer, args.locked)
        return show_plan(up_json(plan), up_lines(plan), args.json)
    status = lab.up(
        args.target,
        sets,
        args.timeout,
        progress=say,
        cause=" ".join(
            [
                "up",
                *(["--version", args.target] if args.target else []),
                *(f"--set {s}" for s in args.set),
                *(["--locked"] if args.locked else []),
            ]
        ),
        traffic_layer=args.traffic_layer,
        locked=args.locked,
    )
    return show_status(status, args.json)


def cmd_status(args: argparse.Namespace) -> int:
    return show_status(open_lab(args).status(), args.json)


def show_status(status: LabStatus, as_json: bool) -> int:
    """Print a status as JSON or as the table; exit code 0."""
    if as_json:
        emit_json(status_json(status))
    else:
        print(status_table(status, terminal_width()))
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    """Exit 1 when anything differs from what was decided; else 3 when the registry's
    tags are unknown (it did not answer, or answered an error), 0 when nothing differs."""
    lab = open_lab(args)
    report = lab.drift()
    if args.json:
        emit_json(drift_json(report))
    else:
        for drift in report.drifts:
            print(drift.line())
        for service in report.busy:
            print(f"{service}: not checked, its rollout is under way or interrupted")
        for service in report.not_running:
            print(not_running_line(service, locking.command(lab.model)))
        if report.unknown is not None:
            print(unknown_line(report.unknown))
        elif not report.drifts:
            print(f"no drift: {len(report.services)} service(s), {_running(report)}")
    if report.drifts:
        return 1
    return 3 if report.unknown is not None else 0


def _running(report: DriftReport) -> str:
    """What `drift` says ran as decided: the running replicas (those stopped run nothing)."""
    if not report.replicas:
        return "no replica running"
    beside = f", as in {', '.join(report.environments)}" if report.environments else ""
    return f"{report.replicas} replica(s) run what was decided{beside}"


def cmd_down(args: argparse.Namespace) -> int:
    lab = open_lab(args)
    lab.down(args.volumes, say)
    say(f"project {lab.name} is down")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    result = open_lab(args).versions(args.service)
    if args.json:
        emit_json(versions_json(result))
    elif result:
        print(versions_text(result))
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    if args.images_command in ("push", "pull"):
        from agentlab.cli import registry_commands

        return registry_commands.cmd_images(args)
    lab = open_lab(args)
    if args.images_command == "build":
        built = lab.build_images(
            args.target, args.service, args.force, args.base_image, say, args.from_git
        )
        say(f"built {len(built)} image(s)")
        return 0
    rows = lab.list_images()
    if args.json:
        emit_json(images_json(rows))
    else:
        print(images_table(rows))
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    lab = open_lab(args)
    lab.scale(args.service, args.replicas, args.timeout, progress=say)
    say(f"{args.service} runs {args.replicas} replica(s)")
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    replica = open_lab(args).kill(args.container)
    say(f"killed {replica.name}; watch it with agentlab status")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    if args.lines < 1:
        raise BadInput(f"-n must be 1 or more, not {args.lines}", hint="agentlab logs NAME -n 50")
    print(open_lab(args).logs(args.container, args.lines), end="")
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    """Roll out edited versions and report drift until Ctrl-C or SIGTERM, or for
    --duration seconds: exit 0, unless a rollout it ran was cut short (paused): then
    130 or 143 for the signal, 1 for the duration, with the line naming it."""
    if args.duration is not None and args.duration <= 0:
        raise BadInput("--duration must be positive", hint="--duration 60")
    from agentlab.lab.watch.drift_watch import DriftWatch
    from agentlab.lab.watch.events import WatchEvent
    from agentlab.lab.watch.watcher import Watcher

    printing = threading.Lock()  # two threads report: one line at a time

    def show(event: WatchEvent | RolloutEvent) -> None:
        with printing:
            print(json.dumps(event.to_json(), default=str) if args.json else event.line(),
                  flush=True)  # fmt: skip

    lab = open_lab(args)
    lab.engine.check()  # an engine down or stuck from the start is exit 3, not a quiet 0
    watcher, drift = Watcher(lab, show), DriftWatch(lab, show)
    watcher.start()
    drift.start()
    say(f"watching {', '.join(map(watcher.label, watcher.files))} and drift (Ctrl-C to stop)")
    stopped: KeyboardInterrupt | None = None
    try:
        threading.Event().wait(args.duration)
    except KeyboardInterrupt as stop:
        say("stopping")
        stopped = stop
    finally:  # a rollout paused before (failure_action pause) is no rollout the end cut
        paused = {e.rollout_id for e in lab.unfinished_here() if e.state == "paused"}
        drift.stop()
        watcher.stop()
    cut = lab.stopped_here(but=paused)  # a rollout the watch ran, paused by its end
    if cut and stopped is not None:
        raise stopped  # one line naming it, exit 130 or 143, as any command cut short
    if cut:
        raise OperationFailed(
            f"watch ended after {args.duration:g}s with the rollout of {cut[0]} paused",
            hint=resume_hint(cut[0]),
        )
    return 0


def add_rollout_parsers(sub: Any) -> None:
    """Rollout, rollback, history and traffic commands (see agentlab.cli.rollout_commands)."""
    from agentlab.cli import rollout_commands

    rollout_commands.add_parsers(sub)


HANDLERS = {
    "up": cmd_up,
    "status": cmd_status,
    "drift": cmd_drift,
    "down": cmd_down,
    "versions": cmd_versions,
    "images": cmd_images,
    "scale": cmd_scale,
    "kill": cmd_kill,
    "logs": cmd_logs,
    "watch": cmd_watch,
    "weight": cmd_weight,
    **prometheus_commands.HANDLERS,
}


def run(args: argparse.Namespace) -> int:
    if args.command == "lock":
        from agentlab.cli import registry_commands

        return registry_commands.cmd_lock(args)
    from agentlab.cli import environment_commands

    if environment_commands.handles(args):  # diff; promote --from/--to
        return environment_commands.run(args)
    handler = HANDLERS.get(args.command)
    if handler is None:
        from agentlab.cli import rollout_commands

        return rollout_commands.run(args)
    return handler(args)
