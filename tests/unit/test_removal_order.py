"""Old replicas leave highest address first: leaving the name reconnects a replica at the
lowest free address, so a lower one freed before would move it (and cut its connections)."""

from __future__ import annotations

from agentlab.engine.model import Replica
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
