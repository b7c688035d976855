"""agentlab's traffic layer: a real proxy (HAProxy) in front of chosen services.

The services' published ports move to the proxy (the override resets theirs), so the
replicas behind it can surge; the proxy joins their networks and routes to each replica's
address. agentlab adds a replica once it is ready and answers its name, drains one before
it is stopped, removes it once it is gone; `sync` puts the proxy's view back in line with
the replicas after anything (agentlab killed, the proxy restarted). The proxy binds to
127.0.0.1 unless `bind` says otherwise; its runtime API and metrics are published on
127.0.0.1 ephemeral ports.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agentlab.common.errors import BadInput
from agentlab.lab import prometheus
from agentlab.lab.layer_gate import LayerGate
from agentlab.lab.model import ProjectModel
from agentlab.project.config import LayerSpec
from agentlab.state.override import (
    LAYER_PREFIX,
    MovedPort,
    Reset,
    read_override,
    set_traffic_layer,
)
from agentlab.traffic import metrics
from agentlab.traffic.haproxy import HAProxyRouter
from agentlab.traffic.haproxy_config import (
    CONFIG_PATH,
    FIRST_LISTEN_PORT,
    METER_PATH,
    METRICS_PORT,
    RUNTIME_PORT,
    Frontend,
    meter_source,
    render,
)
from agentlab.traffic.metrics import VersionFigures

PROXY = f"{LAYER_PREFIX}proxy"
DEFAULT_PROXY_IMAGE = "haproxy:2.6"


@dataclass(frozen=True)
class ProxyView:
    """One read of the proxy's container: its id, its ports' host ports, its networks."""

    container: str | None  # None: not running
    ports: Mapping[int, int]
    networks: frozenset[str]


class TrafficLayer:
    """The traffic layer of one project."""

    def __init__(self, model: ProjectModel) -> None:
        self.model = model
        self._router: HAProxyRouter | None = None
        self._proxy: ProxyView | None = None  # the last read of the proxy's container

    @property
    def services(self) -> tuple[str, ...]:
        """The services behind the proxy now (as the override says)."""
        return read_override(self.model.override_path).traffic_layer

    def image(self) -> str:
        """The proxy's image: $AGENTLAB_PROXY_IMAGE, else the one the override gave it
        (the variable needs giving once), else the official HAProxy 2.6."""
        return (
            os.environ.get("AGENTLAB_PROXY_IMAGE")
            or read_override(self.model.override_path).own_images.get(PROXY)
            or DEFAULT_PROXY_IMAGE
        )

    def plan(self, added: Iterable[str] = ()) -> tuple[MovedPort, ...]:
        """The ports the proxy should publish: for agentlab.yaml's services, those behind
        it already, and `added` (`SERVICE` or `SERVICE:PORT`); validated, touching
        nothing (the proxy's image must be local: agentlab never pulls)."""
        extra: dict[str, list[int]] = {}
        for item in added:
            name, _, port = item.partition(":")
            if port and not (port.isdigit() and 0 < int(port) < 65536):
                raise BadInput(
                    f"--traffic-layer {item}: not SERVICE or SERVICE:PORT (1-65535)",
                    hint="--traffic-layer web, or --traffic-layer agent:8000",
                )
            extra.setdefault(name, []).extend([int(port)] if port else [])
        settings = self.model.project.settings.traffic_layer
        wanted = tuple(dict.fromkeys([*settings, *self.services, *extra]))
        recorded: dict[str, list[MovedPort]] = {}
        for moved_port in read_override(self.model.override_path).moved_ports:
            recorded.setdefault(moved_port.service, []).append(moved_port)
        moved: list[MovedPort] = []
        for name in wanted:
            self._check(name)
            ports = recorded.get(name) or self._ports(name, extra.get(name, []))
            moved += [p for p in ports if p not in moved]
        if moved and self.model.image(self.image()) is None:
            raise BadInput(
                f"the traffic layer's image {self.image()} is not present locally "
                "(agentlab never pulls)",
                hint="docker pull haproxy:2.6, or set AGENTLAB_PROXY_IMAGE "
                "(scripts/lib.sh builds one offline)",
            )
        if moved:
            prometheus.check_image(self.model)
        return tuple(moved)

    def _check(self, name: str) -> None:
        spec = self.model.service(name)
        if spec.container_name:
            raise BadInput(
                f"{name} has container_name '{spec.container_name}': one container only, "
                "even behind a proxy",
                hint="remove container_name to let it surge",
            )
        udp = [f"{p.target}/{p.protocol}" for p in spec.ports if p.protocol != "tcp"]
        if udp:
            raise BadInput(
                f"{name} publishes {', '.join(udp)}: the traffic layer proxies TCP only, and "
                "would drop it",
                hint=f"publish it from another service, or leave {name} out of the traffic layer",
            )
        if not spec.networks:
            raise BadInput(f"{name} is in network mode, not on a network the proxy can join",
                           hint="give it a network")  # fmt: skip

    def _ports(self, name: str, given: list[int]) -> list[MovedPort]:
        """A service's published ports, or the ones agentlab.yaml or the command line give
        one that publishes none (published on an ephemeral host port)."""
        spec = self.model.services[name]
        layer = self.model.project.settings.traffic_layer.get(name, LayerSpec(name))
        own = [MovedPort(name, p.target, p.published, p.host_ip) for p in spec.ports]
        extra = [MovedPort(name, port, None, "") for port in [*layer.ports, *given]]
        if not own and not extra:
            raise BadInput(
                f"{name} publishes no port for the traffic layer to take over",
                hint=f"--traffic-layer {name}:PORT, or ports in agentlab.yaml's traffic_layer",
            )
        return own + [port for port in extra if port.target not in {p.target for p in own}]

    def apply(self, moved: tuple[MovedPort, ...]) -> None:
        """Write the proxy and the moved ports into the override (callers hold the lock);
        with none, take the traffic layer away. The proxy is read again after (`up` may
        recreate it)."""
        self._proxy = None
        if moved or self.services:
            set_traffic_layer(self.model.override_path, moved, self._fragment(moved))
            self.model.reload()

    def frontends(self) -> list[Frontend]:
        """One per proxied service port, listening on the proxy's own ports in order."""
        return _frontends(read_override(self.model.override_path).moved_ports)

    def _fragment(self, moved: tuple[MovedPort, ...]) -> dict[str, Any]:
        """The proxy's service, its configuration, and the resets of the moved ports."""
        if not moved:
            return {}
        services = tuple(dict.fromkeys(port.service for port in moved))
        frontends = _frontends(moved)
        listens = {(f.service, f.target): f.listen for f in frontends}
        ports = []
        for port in moved:
            spec = self.model.project.settings.traffic_layer.get(port.service)
            bind = port.host_ip or (spec.bind if spec else "127.0.0.1")
            ports.append(f"{bind}:{port.published or ''}:{listens[(port.service, port.target)]}")
        ports += [f"127.0.0.1::{f.preview}" for f in frontends]
        ports += [f"127.0.0.1::{RUNTIME_PORT}", f"127.0.0.1::{METRICS_PORT}"]
        networks = sorted({n for name in services for n in self.model.services[name].networks})
        proxy = {
            "image": self.image(),
            "pull_policy": "never",
            "command": ["haproxy", "-W", "-db", "-f", CONFIG_PATH],
            "configs": [
                {"source": f"{LAYER_PREFIX}haproxy", "target": CONFIG_PATH},
                {"source": f"{LAYER_PREFIX}meter", "target": METER_PATH},
            ],
            "ports": ports,
            "networks": networks,
            "restart": "unless-stopped",
            "depends_on": sorted(services),  # their ports are freed before it takes them
        }
        scraper = prometheus.fragment(self.model, PROXY, networks)  # {} unless it is on
        scraper_configs = scraper.get("configs", {})
        return {
            "services": {
                PROXY: proxy,
                **{name: {"ports": Reset([])} for name in services},
                **scraper.get("services", {}),
            },
            "configs": {
                f"{LAYER_PREFIX}haproxy": {"content": _escaped(render(frontends, _cores()))},
                f"{LAYER_PREFIX}meter": {"content": _escaped(meter_source())},
                **{k: {"content": _escaped(v["content"])} for k, v in scraper_configs.items()},
            },
        }

    # ---- at runtime ---------------------------------------------------------

    def _read_proxy(self) -> ProxyView:
        """Read the proxy's container (a rollout's gate and a traffic run's entry do, at
        their start; the other lookups use the last read): a recreated one has new ports
        and a new runtime API."""
        proxies = self.model.engine.replicas(PROXY)
        running = next((proxy for proxy in proxies if proxy.running), None)
        ports = dict(running.published_ports) if running else {}
        networks = frozenset(network for proxy in proxies for network in proxy.addresses)
        view = ProxyView(running.id if running else None, ports, networks)
        if view != self._proxy:
            self._router = None  # recreated (or its ports moved): a new runtime API
        self._proxy = view
        return view

    def _published(self, port: int) -> int | None:
        """The host port the proxy publishes `port` on (None: not running)."""
        return (self._proxy or self._read_proxy()).ports.get(port)

    def router(self) -> HAProxyRouter:
        """The proxy's runtime API (found once per proxy container)."""
        if self._router is None:
            port = self._published(RUNTIME_PORT)
            if port is None:
                raise BadInput("agentlab's traffic layer is not running",
                               hint="agentlab up starts it")  # fmt: skip
            self._router = HAProxyRouter("127.0.0.1", port)
        return self._router

    def metrics_url(self) -> str:
        port = self._published(METRICS_PORT)
        if port is None:
            raise BadInput("agentlab's traffic layer is not running", hint="agentlab up")
        return f"http://127.0.0.1:{port}/metrics/versions"

    def entry_url(self, service: str, path: str = "/", target: int | None = None) -> str:
        """Where host clients reach `service` (its port `target`, else its first) through
        the proxy."""
        self._read_proxy()
        for frontend in self.frontends():
            if frontend.service == service and target in (None, frontend.target):
                port = self._published(frontend.listen)
                if port is not None:
                    return f"http://127.0.0.1:{port}{path}"
        raise BadInput(f"{service} is not behind agentlab's traffic layer",
                       hint=f"agentlab up --traffic-layer {service}")  # fmt: skip

    def preview_url(self, service: str, path: str = "/") -> str:
        """Where the canary (a blue-green's new set) answers alone, from the host."""
        for frontend in self.frontends():
            if frontend.service == service:
                port = self._published(frontend.preview)
                if port is not None:
                    return f"http://127.0.0.1:{port}{path}"
        raise BadInput(f"{service} has no preview port (its traffic layer predates them)",
                       hint=f"agentlab up --traffic-layer {service}")  # fmt: skip

    def figures(self, url: str) -> dict[str, VersionFigures] | None:
        """Per version, what the proxy served for the backend behind `url` (an entry URL
        from `entry_url`); None when `url` does not go through the traffic layer."""
        for frontend in self.frontends():
            port = self._published(frontend.listen)
            if port is not None and url.startswith(f"http://127.0.0.1:{port}/"):
                found = metrics.read(self.metrics_url())
                return metrics.of_backends(found, [frontend.backend, frontend.canary_backend])
        return None

    def gate(self, service: str) -> LayerGate | None:
        """The gate a rollout of `service` lets its replicas through (None: not proxied)."""
        if service not in self.services:
            return None
        frontends = [f for f in self.frontends() if f.service == service]
        networks = set(self._read_proxy().networks)
        return LayerGate(self.router(), frontends, networks)

    def sync(self) -> None:
        """Make each proxied service's routes the replicas that are running, ready and
        answer their name: add the missing, drain the others, remove the gone."""
        for service in self.services:
            gate = self.gate(service)
            if gate is not None:
                gate.sync(self.model.engine.replicas(service))


def _escaped(text: str) -> str:
    """Config content as Compose reads it: `$` would start a variable."""
    return text.replace("$", "$$")


def _frontends(moved: Iterable[MovedPort]) -> list[Frontend]:
    """One per proxied service port, listening on the proxy's own ports in order."""
    pairs = sorted({(m.service, m.target) for m in moved})
    return [Frontend(s, t, FIRST_LISTEN_PORT + i) for i, (s, t) in enumerate(pairs)]


def _cores() -> int:
    """The cores the proxy's threads run on, taken as this machine's: right for a local
    engine; a remote one (DOCKER_HOST) may have other counts, which the cap on threads
    keeps from mattering much."""
    return os.cpu_count() or 1
