"""Coverage: which departments send what, how fresh it is, and who never sent anything.

For each department of the policy in force: its last batch, rows accepted and refused by
month, the metrics it may report and has reported, and those it may report but never has.
Records loaded without a batch (the synthetic city's bulk load) count as reported. The
counts come from ``record_counts`` (:mod:`osmanthus.ledger.record_counts`), kept as
records are written: coverage reads a few hundred rows, never the whole ledger.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field

from osmanthus.ledger import Ledger, batch_rows, read_only
from osmanthus.ledger.record_counts import record_counts_by_pair

__all__ = ["DepartmentCoverage", "coverage"]


@dataclass
class DepartmentCoverage:
    """What one department has sent."""

    code: str
    name: str
    allowed: list[str]
    reported: dict[str, int] = field(default_factory=dict)  # metric -> records in the ledger
    batches: int = 0
    last_batch_id: str | None = None
    last_batch_at: dt.datetime | None = None
    accepted: int = 0
    refused: int = 0
    by_month: dict[str, tuple[int, int]] = field(default_factory=dict)  # YYYY-MM -> (ok, no)

    @property
    def never_reported(self) -> list[str]:
        """Metrics the department may report and has never reported."""
        return [code for code in self.allowed if code not in self.reported]

    @property
    def silent(self) -> bool:
        """True when the department has never sent anything."""
        return not self.reported and self.batches == 0


def coverage(ledger: Ledger) -> list[DepartmentCoverage]:
    """Coverage of every department in the newest policy version, by department code."""
    version = ledger.policy.latest
    found = {
        code: DepartmentCoverage(
            code,
            dept.name,
            sorted(m for m, metric in version.metrics.items() if code in metric.reported_by),
        )
        for code, dept in sorted(version.departments.items())
    }
    with read_only(ledger.engine) as conn:
        codes = {key: code for code, key in ledger.department_ids(conn).items()}
        counted = record_counts_by_pair(conn).items()  # kept as records are written
        sent = batch_rows(conn)
    for (department_id, metric), count in counted:
        entry = found.get(codes.get(department_id, ""))
        if entry is not None:
            entry.reported[metric] = int(count)
    for batch in sent:
        entry = found.get(batch.code)
        if entry is None:
            continue
        entry.batches += 1
        entry.last_batch_id, entry.last_batch_at = batch.batch_id, batch.finished_at
        entry.accepted += batch.accepted
        entry.refused += batch.refused
        month = f"{batch.finished_at:%Y-%m}"
        ok, no = entry.by_month.get(month, (0, 0))
        entry.by_month[month] = (ok + batch.accepted, no + batch.refused)
        for metric in Counter(json.loads(batch.metrics)):
            entry.reported.setdefault(metric, 0)
    return list(found.values())
