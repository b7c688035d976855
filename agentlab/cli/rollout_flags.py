"""The rollout command's flags for its settings and for canaries: each flag's argparse
options, by the name its value has in the rollout's options."""

from __future__ import annotations

from typing import Any

from agentlab.cli import values

SETTING_FLAGS: dict[str, dict[str, Any]] = {
    "strategy": {
        "choices": ["rolling", "recreate", "canary", "blue-green"],
        "help": "rolling (default), recreate, canary (--steps, --gate) or blue-green",
    },
    "max_surge": {
        "type": values.AMOUNT,
        "metavar": "N|P%",
        "help": "extra replicas during the rollout",
    },
    "max_unavailable": {
        "type": values.AMOUNT,
        "metavar": "N|P%",
        "help": "replicas that may be unready",
    },
    "parallelism": {"type": values.COUNT, "metavar": "N", "help": "update_config.parallelism"},
    "delay": {
        "type": values.DURATION,
        "metavar": "DURATION",
        "help": "pause between batches (e.g. 2s)",
    },
    "order": {"choices": ["start-first", "stop-first"], "help": "update_config.order"},
    "failure_action": {
        "choices": ["rollback", "pause", "continue"],
        "help": "on failure (default rollback)",
    },
    "monitor": {
        "type": values.DURATION,
        "metavar": "DURATION",
        "help": "watch new replicas this long after ready",
    },
    "max_failure_ratio": {
        "type": values.RATIO,
        "metavar": "R",
        "help": "failures tolerated (0-1)",
    },
    "min_ready": {
        "type": values.DURATION,
        "metavar": "DURATION",
        "help": "running this long = ready, without healthcheck",
    },
    "timeout": {
        "type": values.DURATION,
        "metavar": "DURATION",
        "help": "progress deadline (default 120s)",
    },
    "deregistration_delay": {
        "type": values.DURATION,
        "metavar": "DURATION",
        "help": "out of the service's name this long before SIGTERM (default 2s)",
    },
    "probe_interval": {
        "type": values.DURATION,
        "metavar": "DURATION",
        "help": "run a new replica's healthcheck this often until it passes (default "
        "500ms; 0: wait on Docker's health)",
    },
    "name_when_ready": {
        "choices": ["true", "false"],
        "help": "new replicas answer the service's name once ready, old ones leave it "
        "first (default true)",
    },
}


CANARY_FLAGS: dict[str, dict[str, Any]] = {
    "steps": {
        "type": values.steps,
        "metavar": "STEPS",
        "help": "canary steps: weights, 'pause [DURATION]', 'analysis' (default 10,50,100; "
        "with gates, an analysis after each weight)",
    },
    "gates": {
        "action": "append",
        "metavar": "EXPR",
        "help": "canary gate, repeatable: 'error_rate < 1%%', 'p99 < 300ms', "
        "'p99 < 1.5 * stable.p99', 'requests >= 50', or with Prometheus in the lab "
        "'promql: QUERY < 1%%' ($canary, $stable, $service, $interval filled in)",
        "flag": "--gate",
    },
    "interval": {
        "type": values.DURATION,
        "metavar": "DURATION",
        "help": "canary analysis interval (default 2s)",
        "flag": "--analysis-interval",
    },
    "count": {
        "type": values.COUNT,
        "metavar": "N",
        "help": "readings per analysis (default 3)",
        "flag": "--analysis-count",
    },
    "failure_limit": {
        "type": values.COUNT,
        "metavar": "N",
        "help": "failed readings tolerated (0)",
    },
    "min_requests": {
        "type": values.COUNT,
        "metavar": "N",
        "help": "canary requests a reading needs to count (default 10)",
    },
    "auto_promote": {
        "action": "store_true",
        "help": "blue-green: switch once the analysis passes, without agentlab promote",
    },
    "scale_down_delay": {
        "type": values.DURATION,
        "metavar": "DURATION",
        "help": "blue-green: keep the old set this long after the switch (default 30s)",
    },
}
