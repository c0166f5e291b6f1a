"""Sign-in attempts counted per client address, so that one address cannot try passwords
across many residents (each resident's own lock, five refusals in 15 minutes, stops only
guessing at one account; osmanthus.residents.credentials).

An attempt counts when it starts (:meth:`AddressThrottle.attempt`, one locked step, so
parallel requests cannot all pass before any is counted) and is forgiven if it succeeds
(:meth:`AddressThrottle.succeeded`): only refusals remain in the window. IPv6 addresses
count by their /64 network (one host can take any address in it).

Counted in this worker's memory: with N workers an address gets up to N times the limit
before every worker refuses it, and a restart forgets. The address is the connection's,
or, from a proxy the ``trusted_proxies`` setting names, the one it forwards; a client
naming its own address in X-Forwarded-For is not believed.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["AddressThrottle", "client_key"]

WINDOW_SECONDS = 15 * 60
#: Addresses remembered at most (the least recently tried are forgotten first).
ADDRESSES = 20_000


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
    """At most ``most`` refused sign-ins per address within :data:`WINDOW_SECONDS`."""

    def __init__(self, most: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._most = most
        self._clock = clock
        self._attempts: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()  # sign-in routes run on the thread pool

    def attempt(self, address: str) -> int:
        """Count an attempt from ``address`` and return 0, or, when the address has
        reached the limit, count nothing and return the seconds until it may try again."""
        key = client_key(address)
        with self._lock:
            now = self._clock()
            times = [t for t in self._attempts.get(key, ()) if t > now - WINDOW_SECONDS]
            if len(times) >= self._most:
                self._attempts[key] = times
                return max(1, int(times[0] + WINDOW_SECONDS - now) + 1)
            times.append(now)
            self._attempts[key] = times
            self._attempts.move_to_end(key)
            while len(self._attempts) > ADDRESSES:
                self._attempts.popitem(last=False)
            return 0

    def succeeded(self, address: str) -> None:
        """Forgive the attempt that succeeded (only refusals stay counted)."""
        key = client_key(address)
        with self._lock:
            times = self._attempts.get(key)
            if times:
                times.pop()
                if not times:
                    del self._attempts[key]
