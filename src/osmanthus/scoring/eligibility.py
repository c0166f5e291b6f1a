"""An eligibility decision for a provider: eligible or not, and until when. Never the
score, the grade or the records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from osmanthus.errors import NotFound, ValidationError
from osmanthus.ledger import Actor, Ledger, ResidentInfo, StoredRecord
from osmanthus.policy import Perk, PolicySet
from osmanthus.scoring.reference import explain

__all__ = ["Eligibility", "check_eligibility", "check_purpose", "decide", "offered"]


@dataclass(frozen=True)
class Eligibility:
    """What a provider learns."""

    perk: str
    eligible: bool
    valid_until: dt.date | None
    decided_on: dt.date
    check_id: int | None = None  # the read's audit entry: rechecks name the check by it


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
    detail = {"perk": perk}
    try:
        resident, rows, entry = ledger.read_entry(
            ledger.pseudonym_of(national_id), actor=actor, purpose=purpose, detail=detail
        )
    except NotFound:  # the same answer as a resident who does not qualify: no oracle
        entry = ledger.read_unregistered(actor=actor, purpose=purpose, detail=detail)
        return Eligibility(perk, False, None, day, entry.seq)
    return replace(decide(ledger.policy, resident, rows, perk, day), check_id=entry.seq)


def offered(policy: PolicySet, perk: str, day: dt.date) -> Perk:
    """The perk ``perk`` of the policy in force on ``day``; :class:`NotFound` when that
    policy does not offer it."""
    version = policy.in_force(day)
    if perk not in version.perks:
        raise NotFound(f"perk {perk!r}: not offered (offered: {', '.join(version.perks)})")
    return version.perks[perk]


def check_purpose(code: str, perk: Perk, purpose: str) -> None:
    """:class:`ValidationError` unless ``purpose`` is one the perk ``code`` lists."""
    allowed = perk.allowed_purposes
    if purpose not in allowed:
        raise ValidationError(
            f"purpose: expected one of {', '.join(allowed)} for perk {code!r}, found {purpose!r}"
        )


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
