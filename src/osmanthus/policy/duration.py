"""Periods such as ``3m``, ``1y``, ``90d``, and calendar arithmetic on them.

Months and years are calendar months: adding one year to 29 February gives 28 February,
adding one month to 31 January gives the last day of February.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

__all__ = ["Period", "parse_period"]

_PATTERN = re.compile(r"^\s*(\d+)\s*([dmy])\s*$")


@dataclass(frozen=True)
class Period:
    """A length of time in days, months or years."""

    amount: int
    unit: str  # "d", "m" or "y"

    def after(self, start: dt.date) -> dt.date:
        """The date this period after ``start``."""
        if self.unit == "d":
            return start + dt.timedelta(days=self.amount)
        months = self.amount * (12 if self.unit == "y" else 1)
        index = start.month - 1 + months
        year, month = start.year + index // 12, index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return dt.date(year, month, day)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    def describe(self) -> str:
        """Human form: ``1 year``, ``3 months``, ``90 days``."""
        word = {"d": "day", "m": "month", "y": "year"}[self.unit]
        return f"{self.amount} {word}{'' if self.amount == 1 else 's'}"


def parse_period(text: str) -> Period:
    """Parse ``<n>d``, ``<n>m`` or ``<n>y``; raise ValueError with the expected form."""
    match = _PATTERN.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"expected a period such as '90d', '3m' or '1y', found {text!r}")
    return Period(int(match.group(1)), match.group(2))
