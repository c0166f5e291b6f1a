"""Scores remembered per resident state, for the web service's busiest requests.

A resident's explanation (score, grade, perks, every record's status) is a pure function
of their record rows (never changed: a correction is a new row), their birth year,
profile and suspensions, the policy and the date. So it can be kept under the key (date,
birth year, profile, row ids, suspensions); the row ids and suspensions are read on every
request (a new record or suspension makes a new key), so nothing remembered is ever stale.
Once ``size`` entries are held, the oldest go first.

- :class:`Decisions`: the perk decisions alone (providers' checks; many residents, small
  entries);
- :class:`Explanations`: whole explanations (residents' own pages; few, larger entries).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from osmanthus.core import ResidentInfo, Suspension
from osmanthus.policy import PolicySet
from osmanthus.scoring.eligibility import Eligibility
from osmanthus.scoring.reference import Explanation, explain

if TYPE_CHECKING:
    from osmanthus.ledger.quick_read import RecordRows

__all__ = ["Decisions", "Explanations"]

T = TypeVar("T")
_Key = tuple[
    dt.date, int | None, tuple[tuple[str, dt.date], ...], tuple[int, ...], tuple[Suspension, ...]
]


class _Remembered(Generic[T]):
    def __init__(self, policy: PolicySet, size: int, keep: Callable[[Explanation], T]) -> None:
        self.policy = policy
        self.size = size
        self._keep = keep
        self._kept: dict[_Key, T] = {}
        self.hits = 0
        self.misses = 0

    def _of(self, resident: ResidentInfo, rows: RecordRows, day: dt.date) -> T:
        key = (
            day,
            resident.birth_year,
            tuple(sorted(resident.profile.items())),
            rows.ids,
            resident.suspensions,
        )
        found = self._kept.get(key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        found = self._keep(explain(rows.stored(), self.policy, day, subject=resident.subject))
        if len(self._kept) >= self.size:
            del self._kept[next(iter(self._kept))]
        self._kept[key] = found
        return found


_Perks = tuple[tuple[str, bool, dt.date | None], ...]


def _perks(found: Explanation) -> _Perks:
    # Plain tuples of strings, booleans and dates: the garbage collector stops tracking
    # them, so fifty thousand remembered decisions do not lengthen its full passes.
    return tuple((p.code, p.eligible, p.valid_until) for p in found.perks)


def _whole(found: Explanation) -> Explanation:
    return found


class Decisions(_Remembered[_Perks]):
    """Perk decisions for providers' checks (a few hundred bytes an entry)."""

    def __init__(self, policy: PolicySet, *, size: int = 50_000) -> None:
        super().__init__(policy, size, _perks)

    def decide(
        self, resident: ResidentInfo, rows: RecordRows, perk: str, day: dt.date
    ) -> Eligibility:
        """The decision for ``perk`` on ``day`` (the rows already read and audited)."""
        _, eligible, valid_until = next(p for p in self._of(resident, rows, day) if p[0] == perk)
        return Eligibility(perk, eligible, valid_until, day)


class Explanations(_Remembered[Explanation]):
    """Whole explanations for residents' own pages (a few KiB an entry)."""

    def __init__(self, policy: PolicySet, *, size: int = 1_024) -> None:
        super().__init__(policy, size, _whole)

    def explain(self, resident: ResidentInfo, rows: RecordRows, day: dt.date) -> Explanation:
        """The explanation on ``day`` (the rows already read and audited)."""
        return self._of(resident, rows, day)
