"""Sign-in attempts counted per client address, so that one address cannot try passwords
across many residents (each resident's own backoff, after five refusals in 15 minutes,
slows only guessing at one account; osmanthus.residents.credentials).

An attempt counts when it starts (:meth:`AddressThrottle.attempt`, one transaction, so
parallel requests cannot all pass before any is counted) and is forgiven if it succeeds
(:meth:`AddressThrottle.succeeded`): only refusals remain in the window. IPv6 addresses
count by their /64 network (one host can take any address in it).

Counted in the ledger database (:mod:`osmanthus.ledger.signin_attempts`), under a keyed
hash of the address: every web worker, and a restarted one, sees the same counts. The
address is the connection's, or, from a proxy the ``trusted_proxies`` setting names, the
one it forwards; a client naming its own address in X-Forwarded-For is not believed.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from sqlalchemy import Engine

from osmanthus.ledger.signin_attempts import (
    WINDOW_SECONDS,
    address_key,
    count_attempt,
    forgive_attempt,
)

__all__ = ["WINDOW_SECONDS", "AddressThrottle", "client_key"]


def client_key(address: str) -> str:
    """The key an address counts under: itself, or its /64 network for IPv6."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class AddressThrottle:
    """At most ``most`` refused sign-ins per address within :data:`WINDOW_SECONDS`,
    counted in the ledger database ``engine`` (``key``: the pseudonym key, which hashes
    the addresses)."""

    def __init__(
        self, engine: Engine, key: bytes, most: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._engine = engine
        self._key = key
        self._most = most
        self._clock = clock

    def attempt(self, address: str) -> int:
        """Count an attempt from ``address`` and return 0, or, when the address has
        reached the limit, count nothing and return the seconds until it may try again."""
        stored = address_key(self._key, client_key(address))
        return count_attempt(self._engine, stored, self._most, self._clock())

    def succeeded(self, address: str) -> None:
        """Forgive the attempt that succeeded (only refusals stay counted)."""
        forgive_attempt(self._engine, address_key(self._key, client_key(address)))
