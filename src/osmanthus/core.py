"""The shapes that go into and come out of the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Actor", "NewRecord", "ResidentInfo", "StoredRecord", "Subject"]


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
    """A record row as stored: an original report, a correction or a retraction."""

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
class Subject:
    """What a scorer may know of a resident besides their records: the birth year (for
    the scheme's age scope) and the profile dates a rule needs (a cycle anchor, the date
    residence began)."""

    birth_year: int | None = None
    profile: Mapping[str, dt.date] = field(default_factory=dict)


@dataclass(frozen=True)
class ResidentInfo:
    """What the ledger holds about a resident: a pseudonym, never the number."""

    id: int
    pseudonym: str
    district: str
    birth_year: int
    profile: Mapping[str, dt.date] = field(default_factory=dict)

    @property
    def subject(self) -> Subject:
        """What a scorer may know of the resident besides their records."""
        return Subject(birth_year=self.birth_year, profile=self.profile)
