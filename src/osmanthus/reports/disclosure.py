"""What a document given to others may show of a resident's records.

The signed credit report is handed to a landlord, an employer, a bank: it lists a record
only while it may be reported. The resident sees every record as history in the portal
(until retention ends); the report shows:

- a record that counts on the report's date, or that is held in its over-lie period
  (kept and shown after its end), while its record class's reporting limit runs
  (``reportable_for`` of its metric, from the act date, or the decision date with
  ``expiry_from = "decision"``);
- a fulfilment record while a record of the same incident is shown.

Everything else is left out, and the report states how many records were left out by
which rule (:data:`RULES`). The score, grade and perks are those of every record that
counts: a record past its reporting limit still counts, it is only not listed.
Providers' answers never show records at all (eligible or not, and until when).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from osmanthus.policy import PolicySet
from osmanthus.scoring import Explanation, RecordLine

__all__ = ["RULES", "Disclosure", "disclose"]

#: Why a record is left out of a document given to others.
RULES = {
    "reporting_limit": "past the reporting limit of its record class",
    "expired": "expired: no longer counts",
    "cleared": "cleared by a clean period or a measure's reset",
    "removed": "removed after its over-lie period",
    "repaired": "repaired early",
    "replaced": "replaced by a correction, or retracted",
    "set_aside": "set aside: a dispute of it was not answered in time",
    "after_date": "acted after the report's date",
    "duplicate": "repeats an incident counted under another record",
    "profile": "profile data: never reported",
    "fulfilment": "fulfils a record that is not reported",
}

_BY_STATUS = {
    "removed": "removed",
    "repaired": "repaired",
    "superseded": "replaced",
    "retraction": "replaced",
    "repair": "repaired",
    "suspended": "set_aside",
    "after_date": "after_date",
    "duplicate": "duplicate",
    "profile": "profile",
}


@dataclass(frozen=True)
class Disclosure:
    """The records a document may show, and how many were left out by which rule."""

    shown: tuple[RecordLine, ...]
    omitted: dict[str, int]


def disclose(result: Explanation, policy: PolicySet) -> Disclosure:
    """The records of ``result`` a document given to others may show on its date."""
    shown: list[RecordLine] = []
    omitted: Counter[str] = Counter()
    fulfilments: list[RecordLine] = []
    for line in result.lines:
        if line.status == "fulfilment":
            fulfilments.append(line)
            continue
        rule = _rule(line, result.as_of, policy)
        if rule is None:
            shown.append(line)
        else:
            omitted[rule] += 1
    incidents = {ln.record.incident_ref for ln in shown if ln.record.incident_ref}
    for line in fulfilments:
        if line.record.incident_ref in incidents:
            shown.append(line)
        else:
            omitted["fulfilment"] += 1
    order = {id(line): k for k, line in enumerate(result.lines)}
    shown.sort(key=lambda line: order[id(line)])
    return Disclosure(tuple(shown), dict(sorted(omitted.items())))


def _rule(line: RecordLine, as_of: dt.date, policy: PolicySet) -> str | None:
    if line.status in _BY_STATUS:
        return _BY_STATUS[line.status]
    ended = line.status in ("expired", "cleared")
    held = ended and line.removed_on is not None and as_of < line.removed_on
    if line.status != "counted" and not held:
        return "cleared" if line.status == "cleared" else "expired"
    record = line.record
    metric = policy.in_force(record.act_date).metric(record.metric)
    if metric.reportable_for is not None:
        base = record.act_date if metric.expiry_from == "act" else record.decision_date
        if as_of >= metric.reportable_for.after(base):
            return "reporting_limit"
    return None
