"""The per-address count of refused sign-ins: a sliding window of 15 minutes, addresses
counted apart, and a bounded memory."""

from __future__ import annotations

from osmanthus.web import throttle
from osmanthus.web.throttle import WINDOW_SECONDS, AddressThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides_and_addresses_are_counted_apart() -> None:
    clock = Clock()
    limit = AddressThrottle(2, clock=clock)
    limit.refused("a")
    clock.now += 60
    limit.refused("a")
    assert limit.wait("b") == 0
    assert limit.wait("a") == WINDOW_SECONDS - 60 + 1  # until the first refusal ages out
    clock.now += WINDOW_SECONDS - 60
    assert limit.wait("a") == 0  # the first has left the window; one remains
    limit.refused("a")
    assert limit.wait("a") > 0


def test_memory_keeps_the_most_recently_refused_addresses(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(throttle, "ADDRESSES", 3)
    limit = AddressThrottle(1, clock=Clock())
    for address in ("a", "b", "c", "d"):
        limit.refused(address)
    assert limit.wait("a") == 0  # forgotten
    assert all(limit.wait(address) > 0 for address in ("b", "c", "d"))
