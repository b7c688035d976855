"""agentlab.yaml's `prometheus:` section: an optional Prometheus in the lab, scraping the
traffic layer, for PromQL gates and alert rules.

    prometheus:                    # or `prometheus: true`: every default
      image: prom/prometheus:v2.42.0   # $AGENTLAB_PROMETHEUS_IMAGE wins (never pulled)
      port: 0                      # its API on 127.0.0.1:PORT; 0: a free port
      scrape_interval: 1s
      rules: alerts.yml            # relative to agentlab.yaml; default: agentlab's own rules
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentlab.common.durations import parse_duration
from agentlab.common.errors import BadInput

DEFAULT_IMAGE = "prom/prometheus:v2.42.0"
KEYS = ("image", "port", "scrape_interval", "rules")
_HINT = "prometheus: {image: prom/prometheus:v2.42.0, port: 0, scrape_interval: 1s}"


@dataclass(frozen=True)
class PrometheusSettings:
    """Prometheus as agentlab.yaml asks for it."""

    image: str = DEFAULT_IMAGE
    port: int = 0  # on 127.0.0.1; 0: an ephemeral port
    scrape_interval: str = "1s"  # a Prometheus duration
    rules: Path | None = None  # None: the rules agentlab ships


def parse_prometheus(value: object, path: Path) -> PrometheusSettings | None:
    """The section as written: absent, null or false is off; true or a mapping is on."""
    if value is None or value is False:
        return None
    if value is True:
        return PrometheusSettings()
    if not isinstance(value, dict):
        raise BadInput(f"{path}: prometheus must be true, false or a mapping", hint=_HINT)
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise BadInput(f"{path}: unknown prometheus key '{unknown[0]}'", hint=", ".join(KEYS))
    default = PrometheusSettings()
    image, port = value.get("image", default.image), value.get("port", default.port)
    interval, rules = value.get("scrape_interval", default.scrape_interval), value.get("rules")
    if not isinstance(image, str) or not image:
        raise BadInput(f"{path}: prometheus.image must be an image reference", hint=_HINT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
        raise BadInput(f"{path}: prometheus.port must be 0 to 65535", hint="port: 0 (a free one)")
    if not _duration(interval):
        raise BadInput(f"{path}: prometheus.scrape_interval '{interval}' is not a duration",
                       hint="scrape_interval: 1s")  # fmt: skip
    found = None
    if rules is not None:
        if not isinstance(rules, str):
            raise BadInput(f"{path}: prometheus.rules must be a file name",
                           hint="rules: alerts.yml")  # fmt: skip
        found = (path.parent / rules).resolve()
        if not found.is_file():
            raise BadInput(f"{path}: prometheus.rules {found} does not exist",
                           hint="a Prometheus rules file, relative to agentlab.yaml")  # fmt: skip
    return PrometheusSettings(image, port, str(interval), found)


def _duration(value: object) -> bool:
    """A duration Prometheus reads too: a number and a unit (`1s`, `500ms`, `1m`), above 0."""
    if not isinstance(value, str) or "." in value:
        return False
    if not value[:1].isdigit() or value[-1:].isdigit():
        return False
    try:
        return parse_duration(value) > 0
    except ValueError:
        return False
