"""Periods such as ``3m``, ``1y``, ``90d``, and calendar arithmetic on them.

Months and years are calendar months. A period of months or years ends on the day with
the start's number in the final month; when that month has no such day (29 February in
a common year, the 31st of a 30-day month), the period runs to the end of that month
and the next period begins on the 1st of the following month. So ``1y`` after
2024-02-29 is 2025-03-01, and a record acted on 2024-02-29 that counts for one year
counts through 2025-02-28 (the rule of §188(3) BGB and of Art. 202 of China's Civil
Code that a missing day means the month's last day).
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
        """The first day after a period of this length that begins on ``start``."""
        if self.unit == "d":
            return start + dt.timedelta(days=self.amount)
        months = self.amount * (12 if self.unit == "y" else 1)
        index = start.month - 1 + months
        year, month = start.year + index // 12, index % 12 + 1
        last = calendar.monthrange(year, month)[1]
        if start.day > last:  # no such day: the period runs to the end of the month
            return dt.date(year, month, last) + dt.timedelta(days=1)
        return dt.date(year, month, start.day)

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
