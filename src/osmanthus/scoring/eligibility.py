"""An eligibility decision for a provider: eligible or not, and until when. Never the
score, the grade or the records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from osmanthus.errors import NotFound
from osmanthus.ledger import Actor, Ledger, ResidentInfo, StoredRecord
from osmanthus.ledger.quick_read import RecordRows
from osmanthus.policy import PolicySet
from osmanthus.scoring.reference import PerkDecision, explain

__all__ = ["Decisions", "Eligibility", "check_eligibility", "decide", "offered"]


@dataclass(frozen=True)
class Eligibility:
    """What a provider learns."""

    perk: str
    eligible: bool
    valid_until: dt.date | None
    decided_on: dt.date


def check_eligibility(
    ledger: Ledger,
    national_id: str,
    perk: str,
    *,
    actor: Actor,
    purpose: str,
    on: dt.date | None = None,
) -> Eligibility:
    """Decide ``perk`` for the resident with ``national_id`` (hashed, never stored); the
    read is audited with ``actor`` and ``purpose``."""
    day = on or ledger.today()
    offered(ledger.policy, perk, day)
    resident, rows = ledger.read_resident(national_id, actor=actor, purpose=purpose)
    return decide(ledger.policy, resident, rows, perk, day)


def offered(policy: PolicySet, perk: str, day: dt.date) -> None:
    """Raise :class:`NotFound` unless the policy in force on ``day`` offers ``perk``."""
    version = policy.in_force(day)
    if perk not in version.perks:
        raise NotFound(f"perk {perk!r}: not offered (offered: {', '.join(version.perks)})")


def decide(
    policy: PolicySet,
    resident: ResidentInfo,
    rows: list[StoredRecord],
    perk: str,
    day: dt.date,
) -> Eligibility:
    """The decision from rows already read (and audited) by the caller."""
    decision = next(
        p for p in explain(rows, policy, day, subject=resident.subject).perks if p.code == perk
    )
    return Eligibility(perk, decision.eligible, decision.valid_until, day)


class Decisions:
    """Perk decisions remembered per resident state: the web service's eligibility checks.

    A decision is a pure function of the resident's record rows (which are never changed:
    a correction is a new row), their birth year and profile, the policy and the date. So
    it is kept under the key (date, birth year, profile, row ids), and the rows are read
    on every check (a new record changes the key): a remembered decision is never stale.
    The oldest entries go first once ``size`` are held (about 1 KiB each).
    """

    def __init__(self, policy: PolicySet, *, size: int = 50_000) -> None:
        self.policy = policy
        self.size = size
        self._kept: dict[tuple[object, ...], tuple[PerkDecision, ...]] = {}
        self.hits = 0
        self.misses = 0

    def decide(
        self, resident: ResidentInfo, rows: RecordRows, perk: str, day: dt.date
    ) -> Eligibility:
        """The decision for ``perk`` on ``day`` (the rows already read and audited)."""
        key = (day, resident.birth_year, tuple(sorted(resident.profile.items())), rows.ids)
        perks = self._kept.get(key)
        if perks is None:
            self.misses += 1
            found = explain(rows.stored(), self.policy, day, subject=resident.subject)
            perks = found.perks
            if len(self._kept) >= self.size:
                del self._kept[next(iter(self._kept))]
            self._kept[key] = perks
        else:
            self.hits += 1
        decision = next(p for p in perks if p.code == perk)
        return Eligibility(perk, decision.eligible, decision.valid_until, day)
