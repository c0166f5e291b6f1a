"""Profile corrections: a resident disputes a profile fact a rule uses (the date a licence
was issued, the date residence began), like a record. The department that reported it
answers within the procedure; upheld, the corrected date is a new fact (bitemporal: the
old one stays for ``--known-at``) and every score is derived from it from then on;
rejected, the resident may appeal; unanswered, the dispute goes to the reviewer."""

from __future__ import annotations

from osmanthus.core import Actor
from osmanthus.errors import ValidationError
from osmanthus.ledger import Dispute, Ledger, insert_profile_dispute, read_only
from osmanthus.ledger.reading import profile_facts_of

__all__ = ["file_profile_dispute", "profile_facts_used"]


def profile_facts_used(ledger: Ledger, pseudonym: str) -> list[dict[str, object]]:
    """The newest fact of each profile attribute the policy in force declares (every one
    a rule uses), with its title; a fact of an attribute no rule uses is not shown."""
    declared = ledger.policy.in_force(ledger.today()).profile
    with read_only(ledger.engine) as conn:
        facts = profile_facts_of(conn, pseudonym)
    newest: dict[str, dict[str, object]] = {}
    for fact in facts:  # oldest first: the newest of each attribute wins
        if fact["attribute"] in declared:
            newest[str(fact["attribute"])] = {
                **fact,
                "title": declared[str(fact["attribute"])].title,
            }
    return sorted(newest.values(), key=lambda f: str(f["attribute"]))


def file_profile_dispute(
    ledger: Ledger,
    pseudonym: str,
    fact_id: int,
    reason: str,
    *,
    actor: Actor | None = None,
) -> Dispute:
    """Dispute one of the resident's profile facts (by the resident, or an operator on
    their behalf); audited. The department that reported it answers by the deadline."""
    text = (reason or "").strip()  # the resident's own words: not screened
    if not 10 <= len(text) <= 2000:
        raise ValidationError(f"reason: expected 10 to 2000 characters, found {len(text)}")
    now = ledger.now()
    procedure = ledger.policy.in_force(ledger.today()).dispute_procedure
    return insert_profile_dispute(
        ledger.engine,
        pseudonym,
        fact_id,
        text,
        filed=now,
        deadline=lambda _conn, _department: procedure.answer_due(now),
        actor=actor or Actor("resident", pseudonym[:12]),
    )
