"""Sign-in attempts counted per client address: a sliding window of 15 minutes, counted
in one step (parallel attempts cannot pass together), successes forgiven, IPv6 by /64,
addresses counted apart, and a bounded memory."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from osmanthus.web import throttle
from osmanthus.web.throttle import WINDOW_SECONDS, AddressThrottle, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides_and_addresses_are_counted_apart() -> None:
    clock = Clock()
    limit = AddressThrottle(2, clock=clock)
    assert limit.attempt("10.0.0.1") == 0
    clock.now += 60
    assert limit.attempt("10.0.0.1") == 0
    assert limit.attempt("10.0.0.2") == 0
    assert limit.attempt("10.0.0.1") == WINDOW_SECONDS - 60 + 1  # until the first ages out
    clock.now += WINDOW_SECONDS - 60
    assert limit.attempt("10.0.0.1") == 0  # the first has left the window
    assert limit.attempt("10.0.0.1") > 0


def test_a_success_is_forgiven() -> None:
    limit = AddressThrottle(2, clock=Clock())
    for _ in range(5):
        assert limit.attempt("10.0.0.1") == 0
        limit.succeeded("10.0.0.1")
    assert limit.attempt("10.0.0.1") == 0
    assert limit.attempt("10.0.0.1") == 0
    assert limit.attempt("10.0.0.1") > 0


def test_parallel_attempts_are_each_counted() -> None:
    limit = AddressThrottle(20)
    with ThreadPoolExecutor(max_workers=16) as pool:
        waits = list(pool.map(lambda _: limit.attempt("10.0.0.9"), range(200)))
    assert waits.count(0) == 20


def test_ipv6_counts_by_its_64_network() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::7")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("testclient") == "testclient"
    limit = AddressThrottle(1, clock=Clock())
    limit.attempt("2001:db8:1:2::1")
    assert limit.attempt("2001:db8:1:2::2") > 0


def test_memory_keeps_the_most_recently_tried_addresses(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(throttle, "ADDRESSES", 3)
    limit = AddressThrottle(1, clock=Clock())
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        limit.attempt(address)
    assert limit.attempt("10.0.0.1") == 0  # forgotten
    assert all(limit.attempt(a) > 0 for a in ("10.0.0.3", "10.0.0.4"))
