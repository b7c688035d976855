"""Old replicas leave highest address first: leaving the name reconnects a replica at the
lowest free address, so a lower one freed before would move it (and cut its connections).
Those an interrupted rollout left out of the name go first, and serve none."""

from __future__ import annotations

from dataclasses import replace

from agentlab.engine.inspect import answers_service_name
from agentlab.engine.model import Replica
from agentlab.lab.status import ServiceStatus
from agentlab.rollout.availability import serves
from agentlab.rollout.departures import removal_order


def replica(number: int, **addresses: str) -> Replica:
    return Replica(
        id=f"id{number}", name=f"web-{number}", service="web", number=number,
        image_ref="web:1", image_id="sha256:1", state="running", health="healthy",
        started_at=None, addresses=addresses,
    )  # fmt: skip


def test_the_highest_address_leaves_first_and_one_without_an_address_last() -> None:
    replicas = [
        replica(1, default="172.20.0.9"),
        replica(2, default="172.20.0.10"),  # 10 > 9: compared as addresses, not as text
        replica(3),
        replica(4, default="172.20.0.2"),
    ]
    assert [r.number for r in removal_order(replicas)] == [2, 1, 4, 3]


def test_equal_addresses_keep_the_oldest_first() -> None:
    replicas = [replica(3), replica(1), replica(2)]
    assert [r.number for r in removal_order(replicas)] == [1, 2, 3]


def test_networks_are_compared_in_name_order() -> None:
    low_on_a = replica(1, a="10.0.0.2", b="10.1.0.9")
    high_on_a = replica(2, a="10.0.0.3", b="10.1.0.2")
    assert [r.number for r in removal_order([low_on_a, high_on_a])] == [2, 1]


def test_a_replica_already_out_of_the_name_leaves_first() -> None:
    """An interrupted rollout's: on no network at all (killed between a leave's disconnect
    and connect) it has no address, and went last while one that served went first."""
    cut = replace(replica(1), named=False)
    replicas = [replica(2, default="172.20.0.9"), cut, replica(3, default="172.20.0.4")]
    assert [r.number for r in removal_order(replicas)] == [1, 2, 3]


def test_an_old_replica_out_of_the_name_serves_none() -> None:
    ready = replica(1, default="172.20.0.9")
    out = replace(ready, named=False)
    assert serves(ready, True) and not serves(out, True)
    assert serves(out, False)  # replicas that keep the name throughout: ready is ready


def test_a_container_on_no_network_answers_no_name() -> None:
    """False, not 'no name to answer' (None): status notes it, resume and undo rejoin it."""
    detached = {"HostConfig": {"NetworkMode": "shop_default"}, "NetworkSettings": {"Networks": {}}}
    assert answers_service_name(detached, "web") is False
    for mode in ("host", "none", "container:0a1b", "bridge"):
        alone = {"HostConfig": {"NetworkMode": mode}, "NetworkSettings": {"Networks": {}}}
        assert answers_service_name(alone, "web") is None, mode
    named = {"NetworkSettings": {"Networks": {"shop_default": {"Aliases": ["shop-web-1", "web"]}}}}
    assert answers_service_name(named, "web") is True


def test_status_counts_a_replica_out_of_the_name_as_not_serving() -> None:
    serving, out = replica(1, default="172.20.0.9"), replace(replica(2), named=False)
    service = ServiceStatus("web", True, "web:1", 2, [serving, out], [])
    assert service.ready == 1  # it showed 2/2 while one answered nothing
