"""The HAProxy configuration of agentlab's traffic layer: written once when the layer is
set up, never changed while it runs (servers come and go through the runtime API)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from agentlab.traffic import meter_rules

RUNTIME_PORT = 9999  # the runtime API (admin level), inside the proxy's container
METRICS_PORT = 9101  # /metrics (HAProxy's exporter), /metrics/versions (agentlab's meter)
CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"
METER_PATH = "/usr/local/etc/haproxy/agentlab-meter.lua"
FIRST_LISTEN_PORT = 10000  # unprivileged: the official image runs HAProxy as a user
CANARY_HEADER = ("X-Canary", "always")  # a request with it goes to a running canary
PREVIEW_OFFSET = 1000  # a frontend's preview port: its listen port + this


@dataclass(frozen=True)
class Frontend:
    """One port of a service through the proxy: `listen` in the proxy's container, to the
    replicas' `target` port."""

    service: str
    target: int
    listen: int

    @property
    def backend(self) -> str:
        return f"agentlab_{self.service}_{self.target}"

    @property
    def canary_backend(self) -> str:
        """The canary's replicas only, for requests that carry the canary header."""
        return f"{self.backend}_canary"

    @property
    def preview(self) -> int:
        """The port where the canary (a blue-green's new set) answers alone."""
        return self.listen + PREVIEW_OFFSET


def meter_source() -> str:
    """agentlab's meter (Lua, loaded by HAProxy): serves the per-version counts and
    latency that the configuration's rules count."""
    return (resources.files("agentlab") / "traffic" / "haproxy" / "meter.lua").read_text(
        encoding="utf-8"
    )


def render(frontends: Sequence[Frontend], cores: int) -> str:
    """The configuration for these frontends, with no server: agentlab adds them. The
    proxy runs a thread per core of the machine (`cores`), up to meter_rules.MAX_THREADS."""
    header, value = CANARY_HEADER
    thread_count = meter_rules.threads(cores)
    lines = [
        "# Written by agentlab: its traffic layer. Servers are added at runtime.",
        "global",
        f"    nbthread {thread_count}",  # the meter's table is sized for these
        f"    stats socket ipv4@0.0.0.0:{RUNTIME_PORT} level admin",
        *meter_rules.environment(RUNTIME_PORT),
        f"    lua-load {METER_PATH}",
        "defaults",
        "    mode http",
        "    option dontlognull",
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-keep-alive 10s",
        "    retries 3",
        "    option redispatch 1",  # a refused connection is tried on another server
        "    retry-on conn-failure empty-response",
    ]
    metered = meter_rules.counting_rules()
    for frontend in frontends:
        lines += [
            f"frontend fe_{frontend.service}_{frontend.target}",
            f"    bind :{frontend.listen}",
            *metered,
            f"    use_backend {frontend.canary_backend} if {{ req.hdr({header}) -m str {value} }}"
            f" {{ nbsrv({frontend.canary_backend}) gt 0 }}",
            f"    default_backend {frontend.backend}",
            f"backend {frontend.backend}",
            "    balance roundrobin",
            f"backend {frontend.canary_backend}",
            "    balance roundrobin",
            f"frontend fe_{frontend.service}_{frontend.target}_preview",
            f"    bind :{frontend.preview}",
            *metered,
            f"    default_backend {frontend.canary_backend}",
        ]
    lines += [
        *meter_rules.table(2 * len(frontends), thread_count),
        "frontend agentlab_metrics",
        f"    bind :{METRICS_PORT}",
        "    http-request use-service lua.agentlab_metrics if { path /metrics/versions }",
        "    http-request use-service prometheus-exporter if { path /metrics }",
    ]
    return "\n".join(lines) + "\n"
