"""Prometheus' HTTP API, as agentlab reads it: instant queries (`GET /api/v1/query`) and the
alerts firing (`GET /api/v1/alerts`). The standard library's urllib is enough for two GETs
of JSON; no client library is needed."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from agentlab.common.errors import BadInput, OperationFailed

TIMEOUT = 3.0  # s: a gate is read every interval, a slow answer must not hold it long


@dataclass(frozen=True)
class Alert:
    """An alert of Prometheus' rules, pending or firing."""

    name: str
    state: str  # "pending" or "firing"
    labels: dict[str, str]
    summary: str

    def line(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items())
                          if k not in ("alertname", "severity"))  # fmt: skip
        return f"{self.state:<8} {self.name} {{{shown}}} {self.summary}".rstrip()


class PrometheusAPI:
    """One Prometheus server, at `url` (`http://127.0.0.1:PORT`)."""

    def __init__(self, url: str, hint: str = "agentlab up starts it") -> None:
        self.url = url.rstrip("/")
        self.hint = hint  # where to look when it does not answer

    def query(self, promql: str) -> float | None:
        """The query's one number now: None when it has no sample; BadInput when
        Prometheus refuses it or it gives several series; OperationFailed when Prometheus
        does not answer."""
        data = self._get("/api/v1/query", {"query": promql})
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar" and isinstance(result, list):
            return _number(result)
        if kind != "vector" or not isinstance(result, list):
            raise BadInput(f"'{promql}' gives a {kind}, not a number",
                           hint="a gate's query comes to one series or a scalar")  # fmt: skip
        if not result:
            return None
        if len(result) > 1:
            raise BadInput(f"'{promql}' gives {len(result)} series, not one number",
                           hint="aggregate them: sum(...), max(...)")  # fmt: skip
        return _number(result[0].get("value"))

    def alerts(self) -> list[Alert]:
        """The alerts pending or firing now."""
        data = self._get("/api/v1/alerts", {})
        found = []
        for raw in data.get("alerts") or []:
            labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
            summary = str((raw.get("annotations") or {}).get("summary", ""))
            found.append(Alert(labels.get("alertname", "?"), str(raw.get("state", "?")),
                               labels, summary))  # fmt: skip
        return sorted(found, key=lambda a: (a.state != "firing", a.name, sorted(a.labels.items())))

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        url = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
                body = json.loads(answer.read())
        except urllib.error.HTTPError as error:  # 400/422: a query Prometheus refuses
            body = _json(error.read())
            reason = body.get("error") or f"HTTP {error.code}"
            hint = "check the PromQL (Prometheus' /graph page tries it)"
            raise BadInput(f"Prometheus refuses '{params.get('query', path)}': {reason}",
                           hint=hint) from None  # fmt: skip
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise OperationFailed(f"Prometheus does not answer at {self.url} ({reason})",
                                  hint=self.hint) from None  # fmt: skip
        if not isinstance(body, dict) or body.get("status") != "success":
            raise OperationFailed(f"Prometheus answered {path} with no data: {body!r:.200}",
                                  hint=self.hint)  # fmt: skip
        data = body.get("data")
        return data if isinstance(data, dict) else {}


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _number(sample: object) -> float | None:
    """The value of `[timestamp, "value"]`; None for NaN (0/0: no requests)."""
    if not isinstance(sample, list) or len(sample) != 2:
        return None
    try:
        value = float(sample[1])
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value
