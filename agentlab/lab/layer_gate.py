"""The traffic layer's view of one rollout: replicas admitted to the proxy once ready,
drained before they stop, forgotten once gone, and the canary's share of the traffic."""

from __future__ import annotations

from agentlab.common.errors import OperationFailed
from agentlab.common.imagerefs import split_image_ref
from agentlab.engine.model import Replica
from agentlab.rollout.availability import serves
from agentlab.rollout.canary import server_weights
from agentlab.traffic.haproxy_config import Frontend
from agentlab.traffic.router import Route, Router, server_name
from agentlab.versions import image_tag


class LayerGate:
    """The traffic layer as one service's rollouts see it (rollout.gate.TrafficGate)."""

    def __init__(self, router: Router, frontends: list[Frontend], networks: set[str]) -> None:
        self.router = router
        self.frontends = frontends
        self.networks = networks
        self._split: tuple[str, int, bool] | None = None  # the split a canary holds

    def _routes(self, replica: Replica) -> dict[str, str]:
        """Backend -> `ip:port` of the replica, on a network the proxy shares with it."""
        address = next((ip for net, ip in replica.addresses.items() if net in self.networks), None)
        if address is None:
            return {}
        return {f.backend: f"{address}:{f.target}" for f in self.frontends}

    def admit(self, replica: Replica) -> None:
        """Route to the replica: at weight 1, or while a split holds, at 0 until the split
        is worked out again with it (a canary replica never gets more than its share)."""
        name = _server(replica)
        admitted = False
        for backend, address in self._routes(replica).items():
            current = {r.server: r for r in self.router.routes(backend)}
            found = current.get(name)
            if found is not None and found.address != address:
                self.router.remove(backend, name)
                found = None
            if found is None:
                self.router.add(backend, name, address, 0 if self._split else 1)
                admitted = True
            elif found.state != "ready":
                self.router.ready(backend, name)
                admitted = True
        if admitted and self._split:
            self.split(*self._split)

    def withdraw(self, replica: Replica) -> bool:
        taken = False
        for backend, routes in self._all_routes():
            for route in routes:
                if route.replica == replica.name and route.state == "ready":
                    self.router.drain(backend, route.server)
                    taken = True
        return taken

    def forget(self, replica: Replica) -> None:
        for backend, routes in self._all_routes():
            for route in routes:
                if route.replica == replica.name:
                    self.router.remove(backend, route.server)

    def split(self, version: str, percent: int, header_routing: bool = True) -> bool:
        """Weights so that the servers of `version` get `percent` % of the requests (the
        raised weights first: the backend never has all its servers at 0); requests with
        the canary header go to them whatever the weight (`header_routing`), else to the
        weighted backend. Replicas admitted from now on join the split."""
        self._split = (version, percent, header_routing)
        for frontend in self.frontends:
            ready = [r for r in self.router.routes(frontend.backend) if r.state == "ready"]
            canary = [r for r in ready if r.version == version]
            stable = [r for r in ready if r.version != version]
            per_canary, per_stable = server_weights(percent, len(canary), len(stable))
            wanted = {r.server: per_canary for r in canary} | {r.server: per_stable for r in stable}
            for route in sorted(ready, key=lambda r: wanted[r.server] - r.weight, reverse=True):
                if route.weight != wanted[route.server]:
                    self.router.weigh(frontend.backend, route.server, wanted[route.server])
            self._route_header(frontend, canary if header_routing else [])
        return True

    def _route_header(self, frontend: Frontend, canary: list[Route]) -> None:
        """The canary backend holds exactly the `canary` servers (a traffic layer set up
        before header routing existed has none: nothing to do)."""
        present = self._canary_routes(frontend)
        if present is None:
            return
        wanted = {r.server: r.address for r in canary}
        for route in present:
            if route.server not in wanted or route.address != wanted[route.server]:
                self.router.remove(frontend.canary_backend, route.server)
        kept = {r.server for r in present if wanted.get(r.server) == r.address}
        for server, address in wanted.items():
            if server not in kept:
                self.router.add(frontend.canary_backend, server, address)

    def sync(self, replicas: list[Replica]) -> None:
        """Routes for the replicas that should take traffic, at the same weight; drained
        or gone otherwise (no rollout runs: no canary weights or header routes are left
        to keep)."""
        self._split = None
        wanted = {r.name: r for r in replicas if serves(r, name_when_ready=True)}
        present = {r.name for r in replicas}
        for frontend in self.frontends:
            for route in self.router.routes(frontend.backend):
                if route.replica not in present:
                    self.router.remove(frontend.backend, route.server)
                elif route.replica not in wanted and route.state == "ready":
                    self.router.drain(frontend.backend, route.server)
                elif route.weight != 1:
                    self.router.weigh(frontend.backend, route.server, 1)
            self._route_header(frontend, [])
        for replica in wanted.values():
            self.admit(replica)

    def unrouted(self, replicas: list[Replica]) -> list[str]:
        """The replicas that serve (ready, in the name) with no ready route on a port of
        the proxy: after the proxy restarted (it starts with no server), or a command cut
        short; `sync` puts them back."""
        wanted = [r.name for r in replicas if r.running and serves(r, name_when_ready=True)]
        missing: set[str] = set()
        for frontend in self.frontends:
            routed = {r.replica for r in self.router.routes(frontend.backend) if r.state == "ready"}
            missing |= {name for name in wanted if name not in routed}
        return sorted(missing)

    def _canary_routes(self, frontend: Frontend) -> list[Route] | None:
        try:
            return self.router.routes(frontend.canary_backend)
        except OperationFailed:
            return None  # set up by an agentlab without header routing

    def _all_routes(self) -> list[tuple[str, list[Route]]]:
        """Each backend with its routes: the weighted ones, then the canary ones."""
        found = [(f.backend, self.router.routes(f.backend)) for f in self.frontends]
        for frontend in self.frontends:
            canary = self._canary_routes(frontend)
            if canary:
                found.append((frontend.canary_backend, canary))
        return found


def _server(replica: Replica) -> str:
    """The server name of a replica: its container and its version (metrics read it)."""
    version = replica.version or split_image_ref(replica.image_ref)[1]
    return server_name(replica.name, image_tag(version))
