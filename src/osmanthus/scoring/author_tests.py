"""Policy authors' test cases, written in the policy's own terms and run by the scorer.

A policy directory keeps its cases in ``tests/*.toml`` beside the version files::

    [[case]]
    name = "failing to yield costs 3 points for a year"
    on = 2026-11-01                         # the scoring date
    birth_year = 1987                       # optional: for the scheme's age scope
    profile = { resident_since = 2019-05-01 }   # optional: dates rules need
    records = [
      { metric = "failure_to_yield", act = 2026-06-01 },    # decision defaults to act
      { metric = "volunteer_hours", act = 2026-07-01, value = 30 },
      { retracts = 0, on = 2026-08-01 },    # retract record 0 (0-based), recorded then
      { corrects = 1, value = 45, on = 2026-08-01 },
    ]
    known_at = 2026-09-01T00:00:00Z         # optional: only what was recorded by then
    expect = { score = 104, counted = [0, 4, 0, 0], perks = ["civilization_loan"] }

``expect`` may hold ``score``, ``grade``, ``measures`` (names, in order), ``perks`` (the
codes the resident is eligible for), ``counted`` (points counted now, per record row in
order) and ``out_of_scope``. A record's department defaults to the metric's first
reporter; it is recorded at midnight UTC after its decision date unless ``recorded`` says
(times without a zone are UTC). Each report passes the same acceptance checks as the
ledger's (department allowed, value in range, severity known, act within the rule's life).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from osmanthus.core import StoredRecord, Subject
from osmanthus.errors import OsmanthusError, PolicyError
from osmanthus.policy import PolicySet
from osmanthus.scoring.reference import Explanation, explain

__all__ = ["Case", "CaseResult", "load_cases", "run_case", "run_cases"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseRecord(_Strict):
    """A record in a case: a report, or a correction or retraction of an earlier one."""

    metric: str | None = None
    act: dt.date | None = None
    decision: dt.date | None = None
    value: float | None = None
    severity: str | None = None
    department: str | None = None
    incident: str | None = None
    recorded: dt.datetime | None = None
    corrects: int | None = None
    retracts: int | None = None
    on: dt.date | None = None
    reason: str = "author test"


class Expect(_Strict):
    """What the case expects; only the fields given are checked."""

    score: int | None = None
    grade: str | None = None
    measures: list[str] | None = None
    perks: list[str] | None = None
    counted: list[int] | None = None
    out_of_scope: bool | None = None


class Case(_Strict):
    """One author test case."""

    name: str
    on: dt.date
    known_at: dt.datetime | None = None
    birth_year: int | None = None
    profile: dict[str, dt.date] = Field(default_factory=dict)
    records: list[CaseRecord] = Field(default_factory=list)
    expect: Expect
    source: str = ""


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case: the problems found (none when it passed)."""

    case: Case
    problems: tuple[str, ...]
    explanation: Explanation | None

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.problems


def load_cases(policy_dir: Path) -> list[Case]:
    """Every case in ``policy_dir/tests/*.toml``, in file and then listing order."""
    cases = []
    for path in sorted((policy_dir / "tests").glob("*.toml")):
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{path.name}: not a valid test file: {exc}") from exc
        bodies = raw.get("case", [])
        if not isinstance(bodies, list) or not all(isinstance(b, dict) for b in bodies):
            raise PolicyError(f"{path.name}: expected [[case]] tables")
        for index, body in enumerate(bodies):
            try:
                cases.append(Case.model_validate({**body, "source": f"{path.name}#{index}"}))
            except pydantic.ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(p) for p in error["loc"])
                raise PolicyError(f"{path.name}: case {index}: {where}: {error['msg']}") from exc
    return cases


def _rows(case: Case, policy: PolicySet) -> list[StoredRecord]:
    rows: list[StoredRecord] = []
    latest: dict[int, StoredRecord] = {}  # case index -> newest row of that record
    for index, item in enumerate(case.records):
        target = item.corrects if item.corrects is not None else item.retracts
        if target is not None and not 0 <= target < index:
            raise PolicyError(
                f"{case.source}: record {index}: corrects/retracts {target}, expected the "
                f"index of an earlier record (0 to {index - 1})"
            )
        if target is not None:
            row = _superseding(case, index, item, latest[target], len(rows) + 1)
        else:
            row = _report(case, index, item, policy, len(rows) + 1)
        latest[target if target is not None else index] = row
        latest[index] = row
        rows.append(row)
    return rows


def _superseding(
    case: Case, index: int, item: CaseRecord, old: StoredRecord, row_id: int
) -> StoredRecord:
    if item.corrects is not None and item.value is None:
        raise PolicyError(f"{case.source}: record {index}: a correction needs a value")
    return StoredRecord(
        id=row_id,
        department=old.department,
        metric=old.metric,
        value=old.value if item.value is None else item.value,
        act_date=old.act_date,
        decision_date=old.decision_date,
        recorded_at=_utc(item.recorded) or _midnight_after(item.on or case.on),
        source_ref=f"case-{index}",
        incident_ref=old.incident_ref,
        kind="correction" if item.corrects is not None else "retraction",
        supersedes_id=old.id,
        reason=item.reason,
        severity=old.severity,
    )


def _report(
    case: Case, index: int, item: CaseRecord, policy: PolicySet, row_id: int
) -> StoredRecord:
    if item.metric is None or item.act is None:
        raise PolicyError(f"{case.source}: record {index}: needs metric and act")
    decision = item.decision or item.act
    rule = policy.in_force(item.act)
    department = item.department or rule.metric(item.metric).reported_by[0]
    value = 1.0 if item.value is None else item.value
    rule.check_report(department, item.metric, value, item.act, item.severity)
    return StoredRecord(
        id=row_id,
        department=department,
        metric=item.metric,
        value=value,
        act_date=item.act,
        decision_date=decision,
        recorded_at=_utc(item.recorded) or _midnight_after(decision),
        source_ref=f"case-{index}",
        incident_ref=item.incident,
        kind="original",
        supersedes_id=None,
        reason=None,
        severity=item.severity,
    )


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A time from a test file; one without a zone is read as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _midnight_after(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)


def run_case(case: Case, policy: PolicySet) -> CaseResult:
    """Score the case's records and compare with what it expects."""
    try:
        rows = _rows(case, policy)
        subject = Subject(birth_year=case.birth_year, profile=case.profile)
        known = _utc(case.known_at)
        result = explain(rows, policy, case.on, known_at=known, subject=subject)
    except (OsmanthusError, KeyError, ValueError, ArithmeticError) as exc:
        return CaseResult(case, (f"could not score: {exc}",), None)
    got: dict[str, Any] = {
        "score": result.score,
        "grade": result.grade,
        "measures": [m.name for m in result.measures],
        "perks": [p.code for p in result.perks if p.eligible],
        "counted": [line.counted for line in result.lines],
        "out_of_scope": result.out_of_scope is not None,
    }
    problems = tuple(
        f"{name}: expected {wanted!r}, got {got[name]!r}"
        for name, wanted in case.expect.model_dump(exclude_none=True).items()
        if got[name] != wanted
    )
    return CaseResult(case, problems, result)


def run_cases(policy_dir: Path, policy: PolicySet) -> list[CaseResult]:
    """Run every case of the policy directory."""
    return [run_case(case, policy) for case in load_cases(policy_dir)]
