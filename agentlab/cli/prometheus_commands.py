"""`agentlab alerts`: the alerts of the lab's Prometheus rules, pending or firing."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from agentlab.cli.commands_base import open_lab
from agentlab.cli.jsonout import emit_json


def add_parsers(sub: Any) -> None:
    alerts = sub.add_parser(
        "alerts", help="alerts of the lab's Prometheus rules, pending or firing (prometheus: on)"
    )
    alerts.add_argument("--json", action="store_true", help="JSON for scripts")


def cmd_alerts(args: argparse.Namespace) -> int:
    url, alerts = open_lab(args).alerts()
    if args.json:
        emit_json({"prometheus": url, "alerts": [asdict(alert) for alert in alerts]})
        return 0
    print(f"prometheus: {url}")
    for alert in alerts:
        print(f"  {alert.line()}")
    if not alerts:
        print("  no alert pending or firing")
    return 0


HANDLERS = {"alerts": cmd_alerts}
