"""When a resident's outcome can next change without a new row in the ledger.

A run's outcome for a resident (score, grade, measures, perks, per-department points) is
a function of the scoring date that steps only on certain days, given the rows the lake
holds. Between two such days it is constant, so a later run may keep it unless a new row
arrives (:mod:`osmanthus.population.incremental`). The days, each taken only when it is
after the scoring date:

- per resident: the act date of every row (a record starts counting, a fulfilment or a
  repair ends another, an incident's winner changes); the day every current record stops
  counting (expiry, cycle end, repair tier's maximum life, fulfilment, granted repair,
  clean-period clearance, a measure's reset); the end of every staged measure taken; the
  start of every suspension fact (a record set aside, or taken back); the day the
  scheme's minimum residence is reached;
- for everyone (:func:`population_next_change`): the effective date of the next policy
  version (rules, grades, perks and scope change), the day after a perk's sunset, and
  New Year's Day (ages, the age scope and the statistics' age bands move on).

An over-lie end changes only what the resident is shown (the record leaves the list),
not the run's outcome, so it is not one of these days. Extra days are harmless (a
resident is scored again and comes out the same); a missing day would leave a stale
result, which the incremental-equality suite (``tests/population/test_incremental.py``)
looks for on generated policies and populations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np

from osmanthus.core import Suspension
from osmanthus.policy import PolicySet
from osmanthus.population.columns import I32, Bucket, SubjectLookup
from osmanthus.population.compiled import NEVER, days

__all__ = ["bucket_next_change", "first_after", "population_next_change"]


def first_after(dates: Iterable[dt.date | None], as_of: dt.date) -> dt.date | None:
    """The earliest of ``dates`` after ``as_of`` (None if there is none)."""
    return min((d for d in dates if d is not None and d > as_of), default=None)


def population_next_change(policy: PolicySet, as_of: dt.date) -> dt.date:
    """The first day after ``as_of`` on which anyone's outcome may change with no new row:
    the next version's effective date, the day after a perk of the version in force
    lapses, or New Year's Day."""
    version = policy.in_force(as_of)
    days_ = [v.effective for v in policy.versions]
    days_ += [p.sunset + dt.timedelta(days=1) for p in version.perks.values() if p.sunset]
    days_.append(dt.date(as_of.year + 1, 1, 1))
    found = first_after(days_, as_of)
    assert found is not None  # New Year's Day is always after as_of
    return found


def bucket_next_change(b: Bucket, subjects: SubjectLookup) -> I32:
    """Per resident of the bucket (by slot), the first day after the scoring date on which
    their rows alone may change their outcome (:data:`NEVER` when none); the reference
    path adds its own days to this (:func:`osmanthus.population.kernel.score_bucket`)."""
    out = np.full(b.n, NEVER, dtype=np.int32)
    later = b.act > b.T
    np.minimum.at(out, b.slot[later], b.act[later])
    ends = b.current & (b.end > b.T) & (b.end < NEVER)
    np.minimum.at(out, b.slot[ends], b.end[ends])
    for slot, facts in subjects.suspensions.items():
        out[slot] = min(int(out[slot]), _suspension_day(facts, b.c.as_of))
    scope = b.c.in_force.scope
    if scope.min_residence is not None:
        for slot, profile in subjects.profile.items():
            since = profile.get(scope.residence_attribute)
            if since is not None:
                reached = scope.min_residence.after(since)
                if reached > b.c.as_of:
                    out[slot] = min(int(out[slot]), days(reached))
    return out


def _suspension_day(facts: Iterable[Suspension], as_of: dt.date) -> int:
    day = first_after((f.starts for f in facts), as_of)
    return int(NEVER) if day is None else days(day)
