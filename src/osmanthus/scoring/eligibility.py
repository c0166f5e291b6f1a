"""An eligibility decision for a provider: eligible or not, and until when. Never the
score, the grade or the records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from osmanthus.errors import NotFound, ValidationError
from osmanthus.ledger import Actor, Ledger, ResidentInfo, StoredRecord
from osmanthus.policy import PolicySet
from osmanthus.scoring.reference import explain

__all__ = ["Eligibility", "check_eligibility", "decide", "offered"]


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


def offered(policy: PolicySet, perk: str, day: dt.date, purpose: str | None = None) -> None:
    """Raise :class:`NotFound` unless the policy in force on ``day`` offers ``perk``, and
    :class:`ValidationError` unless ``purpose`` (when given) is one the perk lists."""
    version = policy.in_force(day)
    if perk not in version.perks:
        raise NotFound(f"perk {perk!r}: not offered (offered: {', '.join(version.perks)})")
    allowed = version.perks[perk].allowed_purposes
    if purpose is not None and purpose not in allowed:
        raise ValidationError(
            f"purpose: expected one of {', '.join(allowed)} for perk {perk!r}, found {purpose!r}"
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
