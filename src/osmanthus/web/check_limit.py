"""How often one provider may ask about one resident in a day (``provider_checks_per_day``).

A provider that asks about the same resident again and again learns when their standing
changes; a limit per provider, resident and city day bounds that. Counted in this web
worker process (with W workers a provider may reach W times the limit), keyed by the ID
number's pseudonym whether anyone holds the number or not: a limit that only registered
residents could reach would tell who is registered.
"""

from __future__ import annotations

import datetime as dt
import threading

from osmanthus.errors import TooManyRequests

__all__ = ["DailyChecks"]


class DailyChecks:
    """Checks per (provider, pseudonym) on the current day, in this process."""

    def __init__(self, per_day: int) -> None:
        self.per_day = per_day
        self._day: dt.date | None = None
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def count(self, provider: str, pseudonym: str, day: dt.date) -> None:
        """Count one check; :class:`TooManyRequests` (nothing counted) past the limit."""
        with self._lock:
            if day != self._day:
                self._day, self._counts = day, {}
            key = (provider, pseudonym)
            done = self._counts.get(key, 0)
            if done >= self.per_day:
                raise TooManyRequests(
                    f"{provider} has asked about this resident {done} times today, the "
                    f"most allowed (provider_checks_per_day): ask again tomorrow"
                )
            self._counts[key] = done + 1
