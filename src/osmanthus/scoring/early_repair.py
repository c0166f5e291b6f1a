"""When an application for the early repair of a record must be refused, by the policy's
rules alone (the record's repair tier, read from the reference explanation).

Refused: a row that is not the record that counts (a correction, retraction or repair
row replaced or pointing elsewhere); a record already repaired; a record that is not
negative; a metric without a repair tier; a record that does not count that day
(expired, removed, set aside); before the tier's minimum period (the refusal names the
day it becomes possible); and, for a tier with ``requires_fulfilment``, while no record
of the obligation's fulfilment is there. The ledger's application path
(:func:`osmanthus.disputes.apply_repair`) and the authors' tests
(:mod:`osmanthus.scoring.author_tests`) both call :func:`repair_check`, so a refusal an
author expects is the one a resident gets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from osmanthus.core import COUNTING_KINDS, REPLACING_KINDS, StoredRecord
from osmanthus.errors import StepRefused, ValidationError
from osmanthus.policy import PolicySet
from osmanthus.scoring.reference import RecordLine

__all__ = ["repair_check"]


def repair_check(
    line: RecordLine, rows: Sequence[StoredRecord], policy: PolicySet, today: dt.date
) -> None:
    """Raise the refusal an application for ``line``'s record gets ``today`` (``line``
    from the explanation of ``rows`` as of ``today``), if any."""
    record = line.record
    if line.status in ("retraction", "repair", "superseded"):
        raise ValidationError(
            f"record_id: record {record.id} does not count ({line.status_text}): apply for "
            "the record that counts"
        )
    if line.status == "repaired":
        raise StepRefused(f"record {record.id}: already repaired")
    if line.status == "suspended":  # not planned while set aside, so its points read 0
        raise _not_counting(line)
    if not policy.in_force(today).scale.worse(line.points):
        raise StepRefused(f"record {record.id}: not a negative record: nothing to repair")
    rule = policy.in_force(record.act_date)
    metric = rule.metric(record.metric)
    if metric.repair_tier is None or line.repair_from is None:
        raise StepRefused(
            f"record {record.id}: the policy allows no early repair of {metric.title}"
        )
    if line.status != "counted":
        raise _not_counting(line)
    tier = rule.repair_tiers[metric.repair_tier]
    if today < line.repair_from:
        raise StepRefused(
            f"record {record.id}: early repair may be requested from {line.repair_from} "
            f"({tier.min_period.describe()} after the record, the policy's minimum period)"
        )
    if tier.requires_fulfilment and not _fulfilled(record, rows, policy):
        raise StepRefused(
            f"record {record.id}: the obligation is not fulfilled: early repair needs a "
            f"record that it was (same incident {record.incident_ref or '(none)'})"
        )


def _not_counting(line: RecordLine) -> StepRefused:
    return StepRefused(
        f"record {line.record.id}: it does not count today ({line.status_text}): nothing to repair"
    )


def _fulfilled(record: StoredRecord, rows: Sequence[StoredRecord], policy: PolicySet) -> bool:
    if record.incident_ref is None:
        return False
    replaced = {r.supersedes_id for r in rows if r.kind in REPLACING_KINDS}
    for other in rows:
        if (
            other.incident_ref == record.incident_ref
            and other.kind in COUNTING_KINDS
            and other.id not in replaced
            and other.act_date >= record.act_date
        ):
            rule = policy.in_force(other.act_date)
            if other.metric in rule.metrics and record.metric in rule.metrics[other.metric].fulfils:
                return True
    return False
