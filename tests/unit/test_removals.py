"""RemovalsInFlight: the step that counts a service's containers (`compose up --scale`)
runs after the stops and removals in flight, and none starts while it runs."""

from __future__ import annotations

import threading

from agentlab.engine.removals import RemovalsInFlight


def test_a_count_waits_for_the_removals_in_flight_and_holds_new_ones_back() -> None:
    removals = RemovalsInFlight()
    order: list[str] = []
    first_in, release, counting = threading.Event(), threading.Event(), threading.Event()

    def removal(name: str, hold: bool) -> None:
        with removals.one():
            order.append(f"{name} removing")
            first_in.set()
            if hold:
                release.wait(5)
            order.append(f"{name} removed")

    second = threading.Thread(target=removal, args=("second", False))

    def count() -> None:
        with removals.none():
            counting.set()
            order.append("counting")
            second.start()
            second.join(0.2)  # held back: it cannot begin while the count runs
            order.append("counted")

    first = threading.Thread(target=removal, args=("first", True))
    first.start()
    assert first_in.wait(5)
    counter = threading.Thread(target=count)
    counter.start()
    assert not counting.wait(0.2)  # the first removal is still in flight
    release.set()
    for thread in (first, counter, second):
        thread.join(5)
    assert order == [
        "first removing",
        "first removed",
        "counting",
        "counted",
        "second removing",
        "second removed",
    ]
