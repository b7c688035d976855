"""The configuration of agentlab's optional Prometheus: it scrapes the traffic layer's proxy
(agentlab's per-version meter at /metrics/versions, HAProxy's own exporter at /metrics) and
loads alert rules. Both are written into the override as Compose configs."""

from __future__ import annotations

from importlib import resources

import yaml

API_PORT = 9090  # Prometheus' HTTP API and UI, inside its container
CONFIG_PATH = "/etc/prometheus/agentlab.yml"
RULES_PATH = "/etc/prometheus/agentlab-rules.yml"
STORAGE_PATH = "/prometheus"  # writable by `nobody` in prom/prometheus and agentlab's image
RETENTION = "2h"  # a lab's figures matter for minutes


def default_rules() -> str:
    """The alert rules agentlab ships (high 5xx ratio, p99 above 300 ms; per version)."""
    return (resources.files("agentlab") / "traffic" / "prometheus" / "rules.yml").read_text(
        encoding="utf-8"
    )


def command() -> list[str]:
    """Prometheus' arguments (the image's entrypoint is the binary, as in prom/prometheus)."""
    return [
        f"--config.file={CONFIG_PATH}",
        f"--storage.tsdb.path={STORAGE_PATH}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address=:{API_PORT}",
    ]


def render(target: str, scrape_interval: str) -> str:
    """Scrape `target` (`host:port` of the proxy's metrics) every `scrape_interval`; label
    each series with its `service` (from the backend) and `version` (from the server)."""
    service = {"regex": "agentlab_(.+)_[0-9]+(_canary)?", "target_label": "service"}
    config = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": scrape_interval,
        },
        "rule_files": [RULES_PATH],
        "scrape_configs": [
            {
                "job_name": "agentlab-versions",
                "metrics_path": "/metrics/versions",
                "static_configs": [{"targets": [target]}],
                "metric_relabel_configs": [{"source_labels": ["backend"], **service}],
            },
            {
                "job_name": "agentlab-haproxy",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [target]}],
                "metric_relabel_configs": [
                    {"source_labels": ["proxy"], **service},
                    {"source_labels": ["server"], "regex": ".+--(.+)", "target_label": "version"},
                ],
            },
        ],
    }
    header = "# Written by agentlab: Prometheus scrapes its traffic layer.\n"
    return header + yaml.safe_dump(config, sort_keys=False)
