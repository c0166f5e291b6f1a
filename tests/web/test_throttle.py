"""Sign-in attempts counted per client address: a sliding window of 15 minutes, counted
in one step (parallel attempts cannot pass together), successes forgiven, IPv6 by /64,
addresses counted apart, in the ledger database (every worker together; an address is
stored only as a keyed hash), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from factories import TEST_KEY
from osmanthus.ledger import connect, migrate
from osmanthus.web.throttle import WINDOW_SECONDS, AddressThrottle, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    found = connect(db_url)
    migrate(found)
    yield found
    found.dispose()


def test_the_window_slides_and_addresses_are_counted_apart(engine: sa.Engine) -> None:
    clock = Clock()
    limit = AddressThrottle(engine, TEST_KEY, 2, clock=clock)
    assert limit.attempt("10.0.0.1") == 0
    clock.now += 60
    assert limit.attempt("10.0.0.1") == 0
    assert limit.attempt("10.0.0.2") == 0
    assert limit.attempt("10.0.0.1") == WINDOW_SECONDS - 60 + 1  # until the first ages out
    clock.now += WINDOW_SECONDS - 60
    assert limit.attempt("10.0.0.1") == 0  # the first has left the window
    assert limit.attempt("10.0.0.1") > 0


def test_a_success_is_forgiven(engine: sa.Engine) -> None:
    limit = AddressThrottle(engine, TEST_KEY, 2, clock=Clock())
    for _ in range(5):
        assert limit.attempt("10.0.0.1") == 0
        limit.succeeded("10.0.0.1")
    assert limit.attempt("10.0.0.1") == 0
    assert limit.attempt("10.0.0.1") == 0
    assert limit.attempt("10.0.0.1") > 0


def test_parallel_attempts_are_each_counted(engine: sa.Engine) -> None:
    limit = AddressThrottle(engine, TEST_KEY, 20)
    with ThreadPoolExecutor(max_workers=8) as pool:
        waits = list(pool.map(lambda _: limit.attempt("10.0.0.9"), range(60)))
    assert waits.count(0) == 20


def test_workers_count_together_and_no_address_is_stored(engine: sa.Engine, db_url: str) -> None:
    """Two throttles on two engines (two workers, or one restarted) share the counts; the
    table holds a keyed hash of each address, never the address."""
    other = connect(db_url)
    try:
        first = AddressThrottle(engine, TEST_KEY, 3, clock=Clock())
        second = AddressThrottle(other, TEST_KEY, 3, clock=Clock())
        assert [first.attempt("192.0.2.7"), second.attempt("192.0.2.7")] == [0, 0]
        assert first.attempt("192.0.2.7") == 0
        assert second.attempt("192.0.2.7") > 0 and first.attempt("192.0.2.7") > 0
    finally:
        other.dispose()
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT address_key FROM signin_attempts")).scalars().all()
    assert len(stored) == 3 and not any("192.0.2" in k for k in stored)


def test_ipv6_counts_by_its_64_network(engine: sa.Engine) -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::7")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("testclient") == "testclient"
    limit = AddressThrottle(engine, TEST_KEY, 1, clock=Clock())
    limit.attempt("2001:db8:1:2::1")
    assert limit.attempt("2001:db8:1:2::2") > 0


def test_old_attempts_are_forgotten(engine: sa.Engine) -> None:
    """Rows older than the window are deleted by the next attempt of any address: the
    table holds 15 minutes of attempts, not a history."""
    clock = Clock()
    limit = AddressThrottle(engine, TEST_KEY, 5, clock=clock)
    for n in range(4):
        limit.attempt(f"10.0.1.{n}")
    clock.now += WINDOW_SECONDS + 1
    limit.attempt("10.0.2.1")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM signin_attempts")).scalar_one() == 1
