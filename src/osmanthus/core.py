"""The shapes that go into and come out of the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "COUNTING_KINDS",
    "REPLACING_KINDS",
    "Actor",
    "NewRecord",
    "ResidentInfo",
    "StoredRecord",
    "Subject",
    "Suspension",
    "suspended_records",
]


#: Kinds of record row that can count: the first report and a correction.
COUNTING_KINDS = ("original", "correction")
#: Kinds of record row that replace the record they point at (``supersedes_id``); a
#: ``repair`` row points at the record it ends early and replaces nothing.
REPLACING_KINDS = ("correction", "retraction")


@dataclass(frozen=True)
class Actor:
    """Who does something to the ledger: ``role:name`` (``operator:cli``, ``department:tax``)."""

    role: str
    name: str

    def __str__(self) -> str:
        return f"{self.role}:{self.name}"


@dataclass(frozen=True)
class NewRecord:
    """A conduct record as a department reports it (the national ID is hashed, not kept)."""

    national_id: str
    department: str
    metric: str
    act_date: dt.date
    decision_date: dt.date
    source_ref: str
    value: float = 1.0
    incident_ref: str | None = None
    severity: str | None = None


@dataclass(frozen=True)
class StoredRecord:
    """A record row as stored: an original report, a correction, a retraction or a
    repair (which ends the record ``supersedes_id`` names on its ``act_date``)."""

    id: int
    department: str
    metric: str
    value: float
    act_date: dt.date
    decision_date: dt.date
    recorded_at: dt.datetime
    source_ref: str
    incident_ref: str | None
    kind: str
    supersedes_id: int | None
    reason: str | None
    severity: str | None = None


@dataclass(frozen=True)
class Suspension:
    """A ledger fact about one record: set aside from ``starts`` (a dispute of it was not
    answered in time), or, with ``lifted``, counting again from ``starts``."""

    id: int
    record_id: int
    starts: dt.date
    lifted: bool
    recorded_at: dt.datetime


def suspended_records(
    suspensions: Sequence[Suspension], as_of: dt.date, known_at: dt.datetime | None = None
) -> frozenset[int]:
    """The records set aside on ``as_of`` as known at ``known_at``: for each record, the
    last fact (by start day, then id) recorded by ``known_at`` that starts on or before
    ``as_of`` is a suspension, not a lifting. A record set aside counts for nothing on
    that date (score, grade, measures, perks): it is read as if it had not been reported."""
    latest: dict[int, tuple[dt.date, int, bool]] = {}
    for s in suspensions:
        if s.starts > as_of or (known_at is not None and s.recorded_at > known_at):
            continue
        key = (s.starts, s.id, s.lifted)
        if s.record_id not in latest or key > latest[s.record_id]:
            latest[s.record_id] = key
    return frozenset(record for record, (_, _, lifted) in latest.items() if not lifted)


@dataclass(frozen=True)
class Subject:
    """What a scorer may know of a resident besides their records: the birth year (for
    the scheme's age scope), the profile dates a rule needs (a cycle anchor, the date
    residence began) and the suspensions of their records."""

    birth_year: int | None = None
    profile: Mapping[str, dt.date] = field(default_factory=dict)
    suspensions: tuple[Suspension, ...] = ()


@dataclass(frozen=True)
class ResidentInfo:
    """What the ledger holds about a resident: a pseudonym, never the number."""

    id: int
    pseudonym: str
    district: str
    birth_year: int
    profile: Mapping[str, dt.date] = field(default_factory=dict)
    suspensions: tuple[Suspension, ...] = ()

    @property
    def subject(self) -> Subject:
        """What a scorer may know of the resident besides their records."""
        return Subject(
            birth_year=self.birth_year, profile=self.profile, suspensions=self.suspensions
        )
