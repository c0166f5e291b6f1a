"""Refused sign-ins counted per client address, so that one address cannot try passwords
across many residents (each resident's own lock, five refusals in 15 minutes, stops only
guessing at one account; osmanthus.residents.credentials).

Counted in this worker's memory: with N workers an address gets up to N times the limit
before every worker refuses it, and a restart forgets. The address is the one uvicorn
reports (behind a proxy, the forwarded one it trusts: ``--forwarded-allow-ips``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["AddressThrottle"]

WINDOW_SECONDS = 15 * 60
#: Addresses remembered at most (the least recently refused are forgotten first).
ADDRESSES = 100_000


class AddressThrottle:
    """At most ``most`` refused sign-ins per address within :data:`WINDOW_SECONDS`."""

    def __init__(self, most: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._most = most
        self._clock = clock
        self._refusals: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()  # sign-in routes run on the thread pool

    def wait(self, address: str) -> int:
        """Seconds until ``address`` may try again (0: it may now)."""
        with self._lock:
            times = self._refusals.get(address)
            if times is None:
                return 0
            self._trim(times)
            if len(times) < self._most:
                return 0
            return max(1, int(times[0] + WINDOW_SECONDS - self._now()) + 1)

    def refused(self, address: str) -> None:
        """Count a refused sign-in from ``address``."""
        with self._lock:
            times = self._refusals.setdefault(address, deque())
            self._trim(times)
            times.append(self._now())
            self._refusals.move_to_end(address)
            while len(self._refusals) > ADDRESSES:
                self._refusals.popitem(last=False)

    def _trim(self, times: deque[float]) -> None:
        since = self._now() - WINDOW_SECONDS
        while times and times[0] <= since:
            times.popleft()

    def _now(self) -> float:
        return self._clock()
