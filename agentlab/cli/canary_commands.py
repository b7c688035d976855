"""`agentlab weight SERVICE PERCENT`: set a running canary's weight by hand (it then holds
there until promote, abort or another weight; see rollout/canary_requests.py)."""

from __future__ import annotations

import argparse
from typing import Any

from agentlab.cli.commands_base import open_lab
from agentlab.cli.jsonout import emit_json
from agentlab.rollout.canary_requests import weight_request


def add_parser(sub: Any) -> None:
    weight = sub.add_parser(
        "weight",
        help="send PERCENT %% of requests to a running canary now, and hold there "
        "(until promote, abort or another weight)",
    )
    weight.add_argument("service")
    weight.add_argument("percent", help="0 to 100 (30 or 30%%)")
    weight.add_argument("--json", action="store_true", help="the request and whether it was taken")


def cmd_weight(args: argparse.Namespace) -> int:
    """Validate, then ask the canary; exit 2 (nothing sent) when none runs or PERCENT is bad."""
    request = weight_request(args.percent, args.service)
    taken = open_lab(args).request_canary(args.service, request)
    if args.json:
        emit_json({"service": args.service, "weight": request.percent, "taken": taken})
        return 0
    when = "it holds there now" if taken else "it acts at its next pause or analysis"
    print(f"weight {request.percent}% sent to the canary of {args.service}: {when}")
    return 0
