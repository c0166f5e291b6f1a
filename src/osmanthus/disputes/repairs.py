"""Early repair (credit restoration): a resident applies for the early end of one of
their negative records; the department that sent it decides within the procedure.

An application is refused at once, with nothing written, when the policy does not allow
it yet: before the repair tier's minimum period has passed (the refusal names the day it
becomes possible), when the tier needs the obligation fulfilled first and no record of
its fulfilment is on the ledger, or when the record does not count (expired, removed,
repaired, set aside, not negative). That check is the policy's alone
(:func:`osmanthus.scoring.repair_check`, which the authors' tests call too). Otherwise
it is filed as a dispute of kind ``repair`` and follows the same steps
(:mod:`osmanthus.disputes.steps`): granted, the record ends on the grant date (a
``repair`` row, distinct from a fulfilment); refused, the resident may appeal;
unanswered by the deadline, it goes to the reviewer.
"""

from __future__ import annotations

from osmanthus.core import Actor
from osmanthus.errors import NotFound, ValidationError
from osmanthus.ledger import Dispute, Ledger, insert_dispute
from osmanthus.scoring import explain, repair_check

__all__ = ["apply_repair", "repair_check"]


def apply_repair(
    ledger: Ledger,
    pseudonym: str,
    record_id: int,
    statement: str,
    *,
    evidence_ref: str | None = None,
    actor: Actor | None = None,
) -> Dispute:
    """Apply for the early repair of one of the resident's own negative records (by the
    resident, or an operator on their behalf); refused at once when the policy does not
    allow it yet (see the module), else filed and audited."""
    text = (statement or "").strip()  # the resident's own words: not screened
    if not 10 <= len(text) <= 2000:
        raise ValidationError(f"statement: expected 10 to 2000 characters, found {len(text)}")
    evidence = (evidence_ref or "").strip() or None
    if evidence is not None and len(evidence) > 200:
        raise ValidationError(f"evidence_ref: at most 200 characters, found {len(evidence)}")
    who = actor or Actor("resident", pseudonym[:12])
    today = ledger.today()
    resident, rows = ledger.read_pseudonym(pseudonym, actor=who, purpose="early repair application")
    found = explain(rows, ledger.policy, today, subject=resident.subject)
    line = next((ln for ln in found.lines if ln.record.id == record_id), None)
    if line is None:  # someone else's record is as absent as no record
        raise NotFound(f"record {record_id}: no such record of yours")
    repair_check(line, rows, ledger.policy, today)
    now = ledger.now()
    procedure = ledger.policy.in_force(today).dispute_procedure
    return insert_dispute(
        ledger.engine,
        pseudonym,
        record_id,
        text,
        filed=now,
        deadline=lambda _conn, _department: procedure.answer_due(now),
        actor=who,
        kind="repair",
        evidence_ref=evidence,
    )
