"""Early repair (credit restoration): a resident applies for the early end of one of
their negative records; the department that sent it decides within the procedure.

An application is refused at once, with nothing written, when the policy does not allow
it yet: before the repair tier's minimum period has passed (the refusal names the day it
becomes possible), when the tier needs the obligation fulfilled first and no record of
its fulfilment is on the ledger, or when the record does not count (expired, removed,
repaired, set aside, not negative). Otherwise it is filed as a dispute of kind
``repair`` and follows the same steps (:mod:`osmanthus.disputes.steps`): granted, the
record ends on the grant date (a ``repair`` row, distinct from a fulfilment); refused,
the resident may appeal; unanswered by the deadline, it goes to the reviewer.
"""

from __future__ import annotations

import datetime as dt

from osmanthus.core import Actor, StoredRecord
from osmanthus.errors import NotFound, StepRefused, ValidationError
from osmanthus.ledger import Dispute, Ledger, insert_dispute
from osmanthus.scoring import RecordLine, explain

__all__ = ["apply_repair", "repair_check"]


def repair_check(
    line: RecordLine, rows: list[StoredRecord], ledger: Ledger, today: dt.date
) -> None:
    """Raise the refusal an application for ``line``'s record gets today, if any."""
    record = line.record
    if line.status in ("retraction", "repair", "superseded"):
        raise ValidationError(
            f"record_id: record {record.id} is a {line.status_text}: apply for the record "
            "that counts"
        )
    if line.status == "repaired":
        raise StepRefused(f"record {record.id}: already repaired")
    if line.points >= 0:
        raise StepRefused(f"record {record.id}: not a negative record: nothing to repair")
    rule = ledger.policy.in_force(record.act_date)
    metric = rule.metric(record.metric)
    if metric.repair_tier is None or line.repair_from is None:
        raise StepRefused(
            f"record {record.id}: the policy allows no early repair of {metric.title}"
        )
    if line.status != "counted":
        raise StepRefused(
            f"record {record.id}: it does not count today ({line.status_text}): nothing to repair"
        )
    if today < line.repair_from:
        tier = rule.repair_tiers[metric.repair_tier]
        raise StepRefused(
            f"record {record.id}: early repair may be requested from {line.repair_from} "
            f"({tier.min_period.describe()} after the record, the policy's minimum period)"
        )
    tier = rule.repair_tiers[metric.repair_tier]
    if tier.requires_fulfilment and not _fulfilled(record, rows, ledger):
        raise StepRefused(
            f"record {record.id}: the obligation is not fulfilled: early repair needs a "
            f"record that it was (same incident {record.incident_ref or '(none)'})"
        )


def _fulfilled(record: StoredRecord, rows: list[StoredRecord], ledger: Ledger) -> bool:
    if record.incident_ref is None:
        return False
    replaced = {r.supersedes_id for r in rows if r.kind in ("correction", "retraction")}
    for other in rows:
        if (
            other.incident_ref == record.incident_ref
            and other.kind in ("original", "correction")
            and other.id not in replaced
            and other.act_date >= record.act_date
        ):
            rule = ledger.policy.in_force(other.act_date)
            if other.metric in rule.metrics and record.metric in rule.metrics[other.metric].fulfils:
                return True
    return False


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
    repair_check(line, rows, ledger, today)
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
