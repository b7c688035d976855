"""Rollout, rollback, history and traffic commands."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from agentlab.cli import values
from agentlab.cli.commands_base import open_lab, say
from agentlab.cli.jsonout import emit_json
from agentlab.cli.plans import rollout_json, rollout_lines, show_plan
from agentlab.cli.render import history_table
from agentlab.cli.rollout_flags import CANARY_FLAGS, SETTING_FLAGS
from agentlab.common.errors import BadInput, OperationFailed
from agentlab.lab.facade import Lab
from agentlab.lab.rollout_io import failure_details
from agentlab.rollout.canary import step_line
from agentlab.rollout.events import RolloutEvent, RolloutFinished, StepStarted
from agentlab.rollout.journal import SUCCEEDED
from agentlab.rollout.phase import RolloutResult
from agentlab.traffic.load import TrafficGenerator, TrafficReport, check_duration
from agentlab.traffic.metrics import (
    MeterReading,
    MeterUnreadable,
    VersionFigures,
    between,
    lines,
)


def add_parsers(sub: Any) -> None:
    """Register the rollout family of subcommands."""
    rollout = sub.add_parser(
        "rollout",
        help="replace a service's replicas with another version, gated by health",
        description="agentlab rollout SERVICE --to VERSION [options]\n"
        "agentlab rollout resume [SERVICE] | agentlab rollout undo [SERVICE]\n\n"
        "With --to, the first word is always the service (a service may be called\n"
        "resume or undo); without it, resume and undo continue an interrupted rollout,\n"
        "with the options it was given.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rollout.add_argument("words", nargs="+", metavar="SERVICE | resume [SERVICE] | undo [SERVICE]")
    rollout.add_argument("--to", metavar="VERSION", help="target version or range")
    for name, spec in SETTING_FLAGS.items():
        rollout.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None, **spec)
    canary = rollout.add_argument_group(
        "canary and blue-green (--strategy canary|blue-green, or agentlab.yaml's canary)"
    )
    for name, spec in CANARY_FLAGS.items():
        flag = spec.get("flag", f"--{name.replace('_', '-')}")
        options = {k: v for k, v in spec.items() if k != "flag"}
        canary.add_argument(flag, dest=name, default=None, **options)
    rollout.add_argument(
        "--dry-run", action="store_true", help="print the plan (--json: as JSON), change nothing"
    )
    rollout.add_argument(
        "--traffic",
        type=values.RPS,
        metavar="RPS",
        help="send RPS requests/s to the lab's entry point during the rollout",
    )
    rollout.add_argument(
        "--json", action="store_true", help="one JSON event per line (--dry-run: the plan)"
    )

    rollback = sub.add_parser("rollback", help="roll back to the previous revision, or to N")
    rollback.add_argument("service", nargs="?")
    rollback.add_argument("--to-revision", type=values.COUNT, metavar="N")
    rollback.add_argument("--json", action="store_true", help="one JSON event per line")

    for word, what in (
        (
            "promote",
            "skip a running canary to 100%%, or with --from ENV --to "
            "ENV, roll ENV to the image another runs",
        ),
        ("abort", "send a running canary's traffic back to stable and end it"),
    ):
        request = sub.add_parser(word, help=what)
        request.add_argument("service")

    history = sub.add_parser(
        "history",
        help="revisions per service: version, image, cause, strategy, outcome, and why each"
        " that did not complete ended",
    )
    history.add_argument("service", nargs="?")
    history.add_argument("--json", action="store_true")

    traffic = sub.add_parser(
        "traffic",
        help="send requests to the lab's entry point (agentlab.yaml traffic:, else the traffic "
        "layer, else the demo's gateway), per version",
    )
    traffic.add_argument(
        "--rps",
        type=values.RPS,
        default=20.0,
        help="requests per second (20)",
    )
    traffic.add_argument("--duration", type=values.SECONDS, default=10.0, help="seconds (10)")
    traffic.add_argument(
        "--keep-alive", action="store_true", help="reuse connections (default: one per request)"
    )
    traffic.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    handlers = {
        "rollout": cmd_rollout,
        "rollback": cmd_rollback,
        "history": cmd_history,
        "traffic": cmd_traffic,
        "promote": cmd_request,
        "abort": cmd_request,
    }
    return handlers[args.command](args)


class EventPrinter:
    """Renders rollout events: a line each, or one JSON object per line; with `traffic`,
    what the proxy served per version during each canary step, as the next one starts."""

    def __init__(self, as_json: bool, traffic: TrafficRun | None = None) -> None:
        self.as_json = as_json
        self.traffic = traffic
        self.canary = False  # a canary step was seen: its figures are printed

    def __call__(self, event: RolloutEvent) -> None:
        step = isinstance(event, StepStarted) and step_line(event.description) is not None
        finished = isinstance(event, RolloutFinished)
        if self.traffic is not None and (step or (finished and self.canary)):
            self.traffic.print_step(self.as_json)
        if self.traffic is not None and finished:  # the outcome stays the last line
            self.traffic.finish(self.as_json)
        self.canary = self.canary or step
        if self.as_json:
            print(json.dumps(event.to_json(), default=str), flush=True)
        else:
            print(event.line(), flush=True)


def cmd_rollout(args: argparse.Namespace) -> int:
    words = args.words
    if words[0] in ("resume", "undo") and not args.to:
        if len(words) > 2:
            raise BadInput(
                f"usage: agentlab rollout {words[0]} [SERVICE]",
                hint=f"agentlab rollout {words[0]} agent",
            )
        lab = open_lab(args)
        result = lab.continue_rollout(
            words[1] if len(words) > 1 else None,
            undo=words[0] == "undo",
            emit=EventPrinter(args.json),
        )
        return finish(result)
    if len(words) != 1:
        raise BadInput("rollout takes one SERVICE", hint="agentlab rollout agent --to v1.3.0")
    if not args.to:
        raise BadInput("rollout needs --to VERSION", hint=f"agentlab rollout {words[0]} --to 1.3.0")
    if args.traffic is not None and not 0 < args.traffic <= 1000:
        raise BadInput("--traffic must be between 0 and 1000 requests/s", hint="--traffic 50")
    options = {name: getattr(args, name) for name in [*SETTING_FLAGS, *CANARY_FLAGS]}
    lab = open_lab(args)
    service = words[0]
    if args.dry_run:
        plan = lab.plan_rollout(service, args.to, options)
        return show_plan(rollout_json(plan), rollout_lines(plan), args.json)
    traffic = TrafficRun(lab, args.traffic).start() if args.traffic else None
    try:
        result = lab.rollout(
            service,
            args.to,
            options,
            EventPrinter(args.json, traffic),
            cause=f"rollout {service} --to {args.to}",
        )
    finally:
        if traffic is not None:
            traffic.finish(args.json)  # when the rollout ended without an outcome
    return finish(result)


def cmd_request(args: argparse.Namespace) -> int:
    """`agentlab promote SERVICE` / `agentlab abort SERVICE`."""
    if getattr(args, "dry_run", False):
        raise BadInput(
            "--dry-run plans a promote across environments",
            hint=f"agentlab promote {args.service} --from staging --to prod --dry-run",
        )
    taken = open_lab(args).request_canary(args.service, args.command)
    when = "it took it" if taken else "it acts at its next pause or analysis"
    print(f"{args.command} sent to the canary of {args.service}: {when}")  # its result
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    lab = open_lab(args)
    service = args.service or rollback_service(lab)
    return finish(lab.rollback(service, args.to_revision, EventPrinter(args.json)))


def rollback_service(lab: Lab) -> str:
    """The service `rollback` goes back when none is named: the primary one, unless it
    has no earlier revision and another service has; else the one service that has."""
    history = lab.model.read_history()
    earlier = [name for name in lab.managed if history is not None and history.previous(name)]
    if len(lab.primary) == 1 and (lab.primary[0] in earlier or not earlier):
        return lab.primary[0]
    if len(earlier) == 1:
        return earlier[0]
    choices = ", ".join(earlier or lab.managed)
    raise BadInput("name the service to roll back", hint=f"one of {choices}")


def finish(result: RolloutResult) -> int:
    """Exit 0 only when the rollout completed; otherwise one error line and details."""
    if result.outcome in SUCCEEDED:
        return 0
    raise OperationFailed(
        f"{result.outcome}: {result.message}",
        hint=result.hint or "agentlab history shows what ran",
        details=failure_details(result),
    )


def cmd_history(args: argparse.Namespace) -> int:
    lab = open_lab(args)
    if args.service:
        lab.service(args.service)
    history = lab.model.read_history()
    revisions = history.revisions(args.service) if history is not None else []
    if args.json:
        emit_json([asdict(r) for r in revisions])
    else:
        print(history_table(revisions))
    return 0


class TrafficRun:
    """Load through the lab's entry point, and what the traffic layer saw of it (per
    version, from its meter) when the entry point goes through it: `unknown` and why when
    the meter gives no whole reading (never partial figures)."""

    def __init__(self, lab: Lab, rps: float, keep_alive: bool = False) -> None:
        self.lab = lab
        self.url = lab.traffic_url()
        self.before = self._read()
        self.step_start = self.before
        self.generator = TrafficGenerator(self.url, rps, keep_alive=keep_alive)
        self.finished = False

    def _read(self) -> MeterReading | None:
        """The proxy's figures now; None when the entry point does not go through it."""
        try:
            return self.lab.proxy_figures(self.url)
        except MeterUnreadable as error:
            return error

    def start(self) -> TrafficRun:
        self.generator.start()
        return self

    def print_step(self, as_json: bool) -> None:
        """The proxy's per-version figures since the last step began (nothing when the
        entry point does not go through the traffic layer, or nothing was served)."""
        if self.before is None:
            return
        now = self._read()
        if now is None:
            return
        served = between(now, self.step_start or {})
        if not isinstance(now, MeterUnreadable):  # the next step counts from a whole one
            self.step_start = now
        if isinstance(served, MeterUnreadable):
            if as_json:
                print(json.dumps({"event": "step_traffic", "proxy": None,
                                  "unknown": served.message}), flush=True)  # fmt: skip
            else:
                print(f"   traffic: unknown ({served.message})", flush=True)
            return
        served = {v: f for v, f in served.items() if f.requests}
        if not served:
            return
        if as_json:
            data = {v: _figures_json(f) for v, f in served.items()}
            print(json.dumps({"event": "step_traffic", "proxy": data}), flush=True)
            return
        for line in lines(served):
            print(f"   traffic: {line}", flush=True)

    def finish(self, as_json: bool) -> None:
        """Stop the load, then print the generator's counts and the proxy's per-version
        figures; once (a second call does nothing)."""
        if not self.finished:
            self.finished = True
            self.print_report(self.generator.stop(settle=True), as_json)

    def print_report(self, report: TrafficReport, as_json: bool) -> None:
        """The generator's counts, then the proxy's per-version figures."""
        after = self._read() if self.before is not None else None
        proxied = None if after is None else between(after, self.before or {})
        if as_json:
            data = {"event": "traffic", **report.to_json()}
            if isinstance(proxied, MeterUnreadable):
                data["proxy"], data["proxy_unknown"] = None, proxied.message
            elif proxied is not None:
                data["proxy"] = {v: _figures_json(f) for v, f in proxied.items() if f.requests}
            print(json.dumps(data, default=str), flush=True)
            return
        print("traffic:")
        for line in report.lines():
            print(f"  {line}")
        if isinstance(proxied, MeterUnreadable):
            print(f"traffic layer (per version): unknown ({proxied.one_line()})")
        elif proxied is not None:
            print("traffic layer (per version):")
            for line in lines(proxied):
                print(f"  {line}")


def _figures_json(figures: VersionFigures) -> dict[str, object]:
    p50, p99 = figures.quantile(0.5), figures.quantile(0.99)
    return {
        "requests": figures.requests,
        "codes": figures.codes,
        "p50_le_ms": None if p50 is None else p50 * 1000,
        "p99_le_ms": None if p99 is None else p99 * 1000,
    }


def cmd_traffic(args: argparse.Namespace) -> int:
    check_duration(args.duration)
    run = TrafficRun(open_lab(args), args.rps, args.keep_alive)
    connections = "keep-alive" if args.keep_alive else "a new connection per request"
    say(f"sending {args.rps:g} req/s for {args.duration:g} s to {run.url} ({connections})")
    report = run.generator.run(args.duration)
    run.print_report(report, args.json)
    return 0 if report.failed == 0 else 1
