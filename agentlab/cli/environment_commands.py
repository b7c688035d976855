"""Environments side by side: `agentlab diff ENV1 ENV2` and `agentlab promote SERVICE
--from ENV --to ENV` (the bare `promote SERVICE` stays the canary's)."""

from __future__ import annotations

import argparse
from typing import Any

from agentlab.cli.commands_base import say
from agentlab.cli.jsonout import emit_json
from agentlab.cli.plans import promotion_json, promotion_lines, show_plan
from agentlab.cli.render import table
from agentlab.cli.rollout_commands import EventPrinter, finish
from agentlab.common.errors import BadInput
from agentlab.lab.environments import ServiceAcross, compare, environment_lab
from agentlab.lab.model import EngineFactory, compose_engine
from agentlab.lab.promotion import plan_promotion, run_promotion
from agentlab.project.location import load_project

engine_factory: EngineFactory = compose_engine  # the engine each environment's lab gets


def add_parsers(sub: Any) -> None:
    """`diff`, and `--from`/`--to` on the `promote` the rollout commands registered."""
    diff = sub.add_parser(
        "diff",
        help="per service, the version and image (digest, else image id) each of two "
        "environments runs (`default`: the project without -e)",
    )
    diff.description = (
        "agentlab diff ENV1 ENV2: per managed service, what each environment's running\n"
        "replicas run (version; repo digest, else image id) and whether it is the same image"
    )
    diff.formatter_class = argparse.RawDescriptionHelpFormatter
    diff.add_argument(
        "environments", nargs=2, metavar="ENV", help="two environments (`default`: without -e)"
    )
    diff.add_argument("--json", action="store_true", help="JSON for scripts")
    promote = sub.choices["promote"]
    promote.description = (
        "agentlab promote SERVICE: skip a running canary to 100 % (or switch a blue-green)\n"
        "agentlab promote SERVICE --from ENV --to ENV: roll ENV (--to) to the exact image "
        "ENV (--from) runs,\n  by its repo digest when it has one (repo:tag@sha256:...), "
        "with the target's rollout strategy\n  and settings, under its policy (a target that "
        "requires a lock takes only a digest agentlab.lock lists);\n  with --dry-run: every check, "
        "then the rollout it would run, and nothing changed"
    )
    promote.formatter_class = argparse.RawDescriptionHelpFormatter
    promote.add_argument("--from", dest="from_env", metavar="ENV", help="source environment")
    promote.add_argument("--to", dest="to_env", metavar="ENV", help="target environment")
    promote.add_argument(
        "--dry-run",
        action="store_true",
        help="with --from/--to: run every check, print the rollout it would run in --to "
        "(the image by digest, strategy, steps), change nothing",
    )
    promote.add_argument(
        "--json", action="store_true", help="one JSON event per line (--dry-run: the plan)"
    )


def handles(args: argparse.Namespace) -> bool:
    """Whether this module runs the command (`promote` only with --from or --to)."""
    return args.command == "diff" or (
        args.command == "promote" and (args.from_env is not None or args.to_env is not None)
    )


def run(args: argparse.Namespace) -> int:
    return cmd_diff(args) if args.command == "diff" else cmd_promote(args)


def cmd_diff(args: argparse.Namespace) -> int:
    project = load_project(args.files, args.project)
    rows = compare(project, args.environments, engine_factory)
    for index, name in enumerate(args.environments):  # its column is all '-': say why
        if not any(row.runs[index].images for row in rows):
            cli = "agentlab" if name == "default" else f"agentlab -e {name}"
            say(f"note: {name} runs nothing (it is down: {cli} up starts it)")
    if args.json:
        emit_json(diff_json(args.environments, rows))
        return 0
    headers = ("SERVICE", *(name.upper() for name in args.environments), "")
    cells = []
    for row in rows:
        runs = [f"{run.versions} {' '.join(i.short for i in run.images)}" for run in row.runs]
        cells.append([row.service, *runs, "same" if row.same else "differs"])
    print(table(headers, cells))
    return 0


def diff_json(environments: list[str], rows: list[ServiceAcross]) -> dict[str, Any]:
    return {
        "environments": environments,
        "services": [
            {
                "service": row.service,
                "same": row.same,
                "environments": {
                    run.environment: {
                        "project": run.project,
                        "images": [
                            {
                                "version": image.version,
                                "image": image.ref,
                                "image_id": image.image_id,
                                "digest": image.digest,
                                "replicas": image.replicas,
                            }
                            for image in run.images
                        ],
                    }
                    for run in row.runs
                },
            }
            for row in rows
        ],
    }


def cmd_promote(args: argparse.Namespace) -> int:
    if args.from_env is None or args.to_env is None:
        raise BadInput(
            "promote across environments needs both --from and --to",
            hint=f"agentlab promote {args.service} --from staging --to prod",
        )
    project = load_project(args.files, args.project)
    source = environment_lab(project, args.from_env, engine_factory)
    target = environment_lab(project, args.to_env, engine_factory)
    promotion = plan_promotion(source, target, args.service)
    what = f"{args.service} {promotion.image.version} ({promotion.image.short})"
    if args.dry_run:
        return show_plan(promotion_json(promotion), promotion_lines(promotion), args.json)
    if promotion.plan is None:
        say(f"{args.to_env} already runs {what}: nothing to promote")
        return 0
    say(f"promoting {what} from {args.from_env} to {args.to_env}")
    result = run_promotion(target, promotion, EventPrinter(args.json))
    return 0 if result is None else finish(result)
