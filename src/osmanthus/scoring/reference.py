"""The reference scorer: one resident's score on a date, with a full explanation.

Semantics (the population engines must match these exactly):

1. Only rows recorded by the "known at" time take part (the caller filters them).
2. A row superseded by a later correction or retraction does not count; a retraction
   never counts; a correction counts with its own value.
3. Each record is scored by the policy version in force on its **act date** (no
   retroactive punishment), and counts from its act date until the day before its
   expiry date (``act date + the metric's expiry``).
4. The score is ``baseline + sum(counted points)``, held between floor and ceiling, with
   the scale of the version in force on the scoring date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from osmanthus.ledger import StoredRecord
from osmanthus.policy import PolicySet, Scale

__all__ = ["Explanation", "RecordLine", "Status", "explain", "score"]

Status = Literal["counted", "expired", "superseded", "retraction", "after_date"]

STATUS_TEXT: dict[str, str] = {
    "counted": "counts",
    "expired": "expired, no longer counts",
    "superseded": "replaced by a later correction or retraction",
    "retraction": "retraction of an earlier record",
    "after_date": "act is after the scoring date",
}


@dataclass(frozen=True)
class RecordLine:
    """One record in an explanation: what it is worth, whether it counts, and why."""

    record: StoredRecord
    status: Status
    points: int
    counted: int
    expires_on: dt.date
    metric_title: str
    legal_basis: str
    rule: str

    @property
    def status_text(self) -> str:
        """A short human reason for the status."""
        return STATUS_TEXT[self.status]


@dataclass(frozen=True)
class Explanation:
    """A score and everything that went into it."""

    as_of: dt.date
    known_at: dt.datetime | None
    policy: str
    scale: Scale
    lines: tuple[RecordLine, ...]
    raw: int
    score: int

    @property
    def counted_total(self) -> int:
        """Sum of the points that count, before floor and ceiling."""
        return sum(line.counted for line in self.lines)

    @property
    def adjustment(self) -> int:
        """Points removed or added by the floor or ceiling (``score - raw``)."""
        return self.score - self.raw


def explain(
    records: Sequence[StoredRecord],
    policy: PolicySet,
    as_of: dt.date,
    *,
    known_at: dt.datetime | None = None,
) -> Explanation:
    """Score one resident's records as of ``as_of`` and explain every record."""
    rows = [r for r in records if known_at is None or r.recorded_at <= known_at]
    superseded = {r.supersedes_id for r in rows if r.supersedes_id is not None}
    lines = tuple(_line(r, policy, as_of, superseded) for r in rows)
    version = policy.in_force(as_of)
    raw = version.scale.baseline + sum(line.counted for line in lines)
    return Explanation(
        as_of=as_of,
        known_at=known_at,
        policy=f"{version.name} {version.version}",
        scale=version.scale,
        lines=lines,
        raw=raw,
        score=version.scale.clamp(raw),
    )


def score(
    records: Sequence[StoredRecord],
    policy: PolicySet,
    as_of: dt.date,
    *,
    known_at: dt.datetime | None = None,
) -> int:
    """The score alone (see :func:`explain`)."""
    return explain(records, policy, as_of, known_at=known_at).score


def _line(
    record: StoredRecord, policy: PolicySet, as_of: dt.date, superseded: set[int]
) -> RecordLine:
    rule = policy.in_force(record.act_date)
    metric = rule.metric(record.metric)
    points = metric.points_for(record.value)
    expires_on = metric.expires_on(record.act_date)
    status: Status
    if record.kind == "retraction":
        status = "retraction"
    elif record.id in superseded:
        status = "superseded"
    elif record.act_date > as_of:
        status = "after_date"
    elif as_of >= expires_on:
        status = "expired"
    else:
        status = "counted"
    basis = metric.legal_basis.cite() if metric.legal_basis else "none"
    return RecordLine(
        record=record,
        status=status,
        points=points,
        counted=points if status == "counted" else 0,
        expires_on=expires_on,
        metric_title=metric.title,
        legal_basis=basis,
        rule=f"{rule.name} {rule.version}",
    )
