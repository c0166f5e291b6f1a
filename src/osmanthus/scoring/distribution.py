"""The score distribution of the whole population, from the reference scorer.

Residents outside the scheme's scope are counted apart. This is the simple path for the
embedded demo city; the population engines compute the same numbers vectorised.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from osmanthus.ledger import Actor, Ledger, iter_population
from osmanthus.scoring.reference import score

__all__ = ["Distribution", "distribution"]


@dataclass
class Distribution:
    """How many residents stand above, at and below the baseline, and the histogram."""

    as_of: dt.date
    baseline: int
    total: int = 0
    above: int = 0
    at: int = 0
    below: int = 0
    out_of_scope: int = 0
    histogram: Counter[int] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)

    def add(self, value: int | None, resident_id: int | None = None, count: int = 1) -> None:
        """Count ``count`` residents with score ``value`` (None: outside the scope)."""
        if value is None:
            self.out_of_scope += count
            return
        self.total += count
        band = "above" if value > self.baseline else "below" if value < self.baseline else "at"
        setattr(self, band, getattr(self, band) + count)
        self.histogram[value] += count
        if resident_id is not None and len(self.examples.setdefault(band, [])) < 5:
            self.examples[band].append(resident_id)

    def share(self, band: str) -> float:
        """Fraction of residents in ``band`` (above, at or below)."""
        return getattr(self, band) / self.total if self.total else 0.0


def distribution(
    ledger: Ledger,
    as_of: dt.date,
    *,
    actor: Actor,
    purpose: str = "population statistics",
    known_at: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> Distribution:
    """Score every resident as of ``as_of`` and count them."""
    version = ledger.policy.in_force(as_of)
    result = Distribution(as_of=as_of, baseline=version.scale.baseline)
    for count, (resident_id, subject, rows) in enumerate(
        iter_population(ledger.engine, actor=actor, purpose=purpose, known_at=known_at),
        start=1,
    ):
        value = score(rows, ledger.policy, as_of, known_at=known_at, subject=subject)
        result.add(value, resident_id)
        if progress and count % 10_000 == 0:
            progress(10_000)
    return result
