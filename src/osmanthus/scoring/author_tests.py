"""Policy authors' test cases, written in the policy's own terms and run by the scorer.

A policy directory keeps its cases in ``tests/*.toml`` beside the version files (the
format: :mod:`osmanthus.scoring.author_cases`; docs/policy-language.md §18)::

    [[case]]
    name = "failing to yield costs 3 points for a year"
    on = 2026-11-01                         # the scoring date
    birth_year = 1987                       # optional: for the scheme's age scope
    records = [
      { metric = "failure_to_yield", act = 2026-06-01 },    # decision defaults to act
      { metric = "volunteer_hours", act = 2026-07-01, value = 30 },
      { retracts = 0, on = 2026-08-01 },    # retract record 0 (0-based), recorded then
      { corrects = 1, value = 45, on = 2026-08-01 },
    ]
    known_at = 2026-09-01T00:00:00Z         # optional: only what was recorded by then
    expect = { score = 104, counted = [0, 0, 0, 4], perks = ["civilization_loan"] }

    [[case]]
    name = "drunk driving: set aside for a while, then repaired"
    on = 2027-04-02
    expect = { score = 100 }

    [[case.records]]                        # one record, with facts and expectations
    metric = "drunk_driving"
    act = 2026-03-01
    set_aside = 2026-10-01                  # an overdue dispute set it aside ...
    counts_again = 2026-10-20               # ... until the department answered
    repaired = 2027-04-02                   # early repair granted: a repair row
    expect = { status = "repaired", ends = 2027-04-02, repair_from = 2027-03-01 }

Each record passes the ledger's door as a department's report would (prohibited data by
the charter, then :meth:`~osmanthus.policy.PolicyVersion.check_report`); a refused
record has no row. The facts on a record become what the ledger would hold: a
``repair`` row for ``repaired`` (carried to a later correction), suspensions for
``set_aside`` and ``counts_again``. The reference scorer explains the case's date and
every expectation is compared; ``repair_refused`` asks
:func:`~osmanthus.scoring.repair_check` about an application made on that date. A
``[[must_not_load]]`` entry loads the policy with one version changed and expects the
loader's refusal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from osmanthus.core import StoredRecord, Subject, Suspension
from osmanthus.errors import OsmanthusError, PolicyError, ValidationError
from osmanthus.policy import PolicySet, load_policy
from osmanthus.policy.charter import prohibited_data, prohibited_refusal
from osmanthus.scoring.author_cases import (
    Case,
    CaseRecord,
    Message,
    MustNotLoad,
    changed_version,
    describe,
    load_cases,
    says,
)
from osmanthus.scoring.early_repair import repair_check
from osmanthus.scoring.reference import Explanation, RecordLine, explain

__all__ = ["Case", "CaseResult", "MustNotLoad", "load_cases", "run_case", "run_cases"]


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case or must-not-load entry: the problems found (none when it
    passed)."""

    case: Case | MustNotLoad
    problems: tuple[str, ...]
    explanation: Explanation | None

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.problems


@dataclass
class _Built:
    """What a case's records become: the rows the ledger would hold, the suspensions,
    each case record's row (None when refused) and the refusals met at the door."""

    rows: list[StoredRecord] = field(default_factory=list)
    suspensions: list[Suspension] = field(default_factory=list)
    row_of: list[StoredRecord | None] = field(default_factory=list)
    refusals: dict[int, str] = field(default_factory=dict)


def _build(case: Case, policy: PolicySet) -> _Built:
    built = _Built()
    latest: dict[int, StoredRecord] = {}  # case index -> newest row of that record
    granted: dict[int, dt.date] = {}  # row id -> the day its early repair was granted
    for index, item in enumerate(case.records):
        target = item.target
        old = latest.get(target) if target is not None else None
        built.row_of.append(None)
        if target is not None and old is None:  # the record it points at was refused
            continue
        try:
            row = _admit(case, index, item, policy, old)
        except (ValidationError, PolicyError) as exc:
            built.refusals[index] = str(exc)
            continue
        built.rows.append(row)
        built.row_of[index] = latest[index] = row
        if target is not None:
            latest[target] = row
        # a correction of a repaired record is repaired the same day, as in the ledger
        carried = granted.get(old.id) if old is not None and item.corrects is not None else None
        grant = item.repaired or carried
        if grant is not None:  # repair rows are numbered after every case record
            row_id = len(case.records) + len(granted) + 1
            recorded = max(_midnight_after(grant), row.recorded_at)
            built.rows.append(_repair_row(row, row_id, grant, recorded))
            granted[row.id] = grant
        for starts, lifted in ((item.set_aside, False), (item.counts_again, True)):
            if starts is not None:
                built.suspensions.append(
                    Suspension(
                        id=len(built.suspensions) + 1,
                        record_id=row.id,
                        starts=starts,
                        lifted=lifted,
                        recorded_at=_midnight_after(starts),
                    )
                )
    return built


def _admit(
    case: Case, index: int, item: CaseRecord, policy: PolicySet, old: StoredRecord | None
) -> StoredRecord:
    """The row of one case record, after the checks the ledger makes at its door (the
    charter's prohibited data, then the policy's acceptance checks)."""
    row_id = index + 1
    if old is not None:
        _refuse_prohibited("reason", item.reason, policy)
        if item.corrects is not None:
            assert item.value is not None  # checked when the file was read
            rule = policy.in_force(old.act_date)
            rule.check_report(old.department, old.metric, item.value, severity=old.severity)
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
    assert item.metric is not None and item.act is not None  # checked when read
    _refuse_prohibited("metric", item.metric, policy)
    decision = item.decision or item.act
    if decision < item.act:
        raise ValidationError(f"decision_date: {decision} is before the act date {item.act}")
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


def _refuse_prohibited(what: str, text: str, policy: PolicySet) -> None:
    found = prohibited_data(policy.charter, text)
    if found is not None:
        raise ValidationError(prohibited_refusal(found, f"{what} {text!r}"))


def _repair_row(
    row: StoredRecord, row_id: int, granted: dt.date, recorded: dt.datetime
) -> StoredRecord:
    """A granted early repair of ``row``, as the ledger writes it."""
    return StoredRecord(
        id=row_id,
        department=row.department,
        metric=row.metric,
        value=0.0,
        act_date=granted,
        decision_date=granted,
        recorded_at=recorded,
        source_ref=f"{row.source_ref}-repair",
        incident_ref=row.incident_ref,
        kind="repair",
        supersedes_id=row.id,
        reason="author test: early repair granted",
        severity=row.severity,
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
    built = _build(case, policy)
    unexpected = tuple(
        f"could not score: {_label(case, index)}: refused: {refusal}"
        for index, refusal in built.refusals.items()
        if not case.records[index].refused
    )
    if unexpected:
        return CaseResult(case, unexpected, None)
    try:
        subject = Subject(
            birth_year=case.birth_year,
            profile=case.profile,
            suspensions=tuple(built.suspensions),
        )
        known = _utc(case.known_at)
        result = explain(built.rows, policy, case.on, known_at=known, subject=subject)
    except (OsmanthusError, KeyError, ValueError, ArithmeticError) as exc:
        return CaseResult(case, (f"could not score: {exc}",), None)
    lines = {line.record.id: line for line in result.lines}
    mine = [lines.get(row.id) if row is not None else None for row in built.row_of]
    got: dict[str, Any] = {
        "score": result.score,
        "grade": result.grade,
        "measures": [m.name for m in result.measures],
        "measures_running": [
            m.name for m in result.measures if m.until is not None and case.on < m.until
        ],
        "perks": [p.code for p in result.perks if p.eligible],
        "counted": [line.counted for line in mine if line is not None],
        "out_of_scope": result.out_of_scope is not None,
    }
    problems = [
        f"{name}: expected {wanted!r}, got {got[name]!r}"
        for name, wanted in case.expect.model_dump(exclude_none=True).items()
        if got[name] != wanted
    ]
    known_rows = [line.record for line in result.lines]
    for index, item in enumerate(case.records):
        if item.expect is not None and item.expect.refused is not None:
            problem = _refusal_problem(
                f"{_label(case, index)}: refused",
                item.expect.refused,
                built.refusals.get(index),
                "the record was accepted",
            )
            problems += [problem] if problem else []
        elif item.expect is not None:
            problems += _record_problems(case, index, mine[index], known_rows, policy)
    return CaseResult(case, tuple(problems), result)


def _label(case: Case, index: int) -> str:
    """``records.2 loan_default``: a case record in a failure line."""
    item = case.records[index]
    while item.metric is None and item.target is not None:  # always an earlier record
        item = case.records[item.target]
    return f"records.{index} {item.metric}"


def _day(value: dt.date | None) -> str:
    return "never" if value is None else value.isoformat()


def _record_problems(
    case: Case,
    index: int,
    line: RecordLine | None,
    rows: list[StoredRecord],
    policy: PolicySet,
) -> list[str]:
    expect = case.records[index].expect
    assert expect is not None
    where = _label(case, index)
    if line is None:
        return [f"{where}: not known at {case.known_at}: nothing to compare"]
    problems = []
    if expect.status is not None and line.status != expect.status:
        problems.append(
            f"{where}: status: expected {expect.status!r}, got {line.status!r} ({line.status_text})"
        )
    for name, got in (
        ("ends", line.expires_on),
        ("removed", line.removed_on),
        ("repair_from", line.repair_from),
    ):
        wanted = getattr(expect, name)
        if wanted is not None and str(wanted) != _day(got):  # str(date) is its ISO form
            problems.append(f"{where}: {name}: expected {wanted}, got {_day(got)}")
    if expect.repair_refused is not None:
        try:
            repair_check(line, rows, policy, case.on)
            refusal = None
        except (ValidationError, PolicyError) as exc:
            refusal = str(exc)
        problem = _refusal_problem(
            f"{where}: repair_refused",
            expect.repair_refused,
            refusal,
            f"an application on {case.on} would be filed",
        )
        problems += [problem] if problem else []
    return problems


def _refusal_problem(
    what: str, wanted: Message | Literal[False], refusal: str | None, otherwise: str
) -> str | None:
    """The failure line when ``refusal`` (None: ``otherwise`` happened) is not the one
    ``wanted`` (False: none)."""
    if wanted is False:
        return None if refusal is None else f"{what}: expected no refusal, got {refusal!r}"
    if refusal is None:
        return f"{what}: expected a refusal {describe(wanted)}, but {otherwise}"
    if not says(wanted, refusal):
        return f"{what}: expected a message {describe(wanted)}, got {refusal!r}"
    return None


def _run_must_not_load(entry: MustNotLoad, policy_dir: Path, policy: PolicySet) -> CaseResult:
    """Load the policy with the entry's version changed; it must be refused with the
    message the entry expects."""
    base, content = changed_version(entry, policy_dir, policy)
    try:
        load_policy(policy_dir, changed={base: content})
        refusal = None
    except PolicyError as exc:
        refusal = str(exc)
    problem = _refusal_problem("error", entry.error, refusal, f"the changed {base} loaded")
    return CaseResult(entry, (problem,) if problem else (), None)


def run_cases(policy_dir: Path, policy: PolicySet) -> list[CaseResult]:
    """Run every case and must-not-load entry of the policy directory."""
    return [
        run_case(entry, policy)
        if isinstance(entry, Case)
        else _run_must_not_load(entry, policy_dir, policy)
        for entry in load_cases(policy_dir, policy)
    ]
