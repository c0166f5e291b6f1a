"""The reference scorer: one resident's score on a date, with a full explanation.

Semantics (the population engines must match these exactly):

1. Only rows recorded by the "known at" time take part (bitemporal reads).
2. A row superseded by a later correction or retraction does not count; a retraction
   never counts; a correction counts with its own value. A repair row (an early-repair
   application granted) ends the record it points at on its act date, the grant date.
   A row set aside on the scoring date (a dispute of it not answered in time:
   :func:`osmanthus.core.suspended_records`) is read as if it had not been reported.
3. Each record is planned by the policy version in force on its act date
   (:mod:`osmanthus.scoring.plan`): its points and the day it stops counting.
4. The timeline (:mod:`osmanthus.scoring.timeline`) applies and expires records in date
   order with caps, clamping, reductions and staged measures.
5. The score is the standing held between floor and ceiling; grade, forced grades and
   perks come from the version in force on the scoring date. A resident outside the
   scheme's scope (age, residence) has no score.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from osmanthus.core import COUNTING_KINDS, REPLACING_KINDS, StoredRecord, Subject, suspended_records
from osmanthus.policy import PolicySet, PolicyVersion, Scale
from osmanthus.scoring.plan import Plan, plan_record
from osmanthus.scoring.timeline import Adjustment, MeasureTaken, run_timeline

__all__ = [
    "STATUS_TEXT",
    "Explanation",
    "PerkDecision",
    "RecordLine",
    "explain",
    "repairs_of",
    "score",
]

Status = Literal[
    "counted",
    "expired",
    "cleared",
    "removed",
    "superseded",
    "retraction",
    "suspended",
    "repaired",
    "repair",
    "after_date",
    "fulfilment",
    "profile",
    "duplicate",
]

STATUS_TEXT: dict[str, str] = {
    "counted": "counts",
    "expired": "expired, no longer counts",
    "cleared": "cleared: a clean period passed, or a measure reset the standing",
    "removed": "removed after its over-lie period",
    "superseded": "replaced by a later correction or retraction",
    "retraction": "retraction of an earlier record",
    "suspended": "set aside: a dispute of it was not answered in time",
    "repaired": "repaired early: no longer counts",
    "repair": "early repair of an earlier record",
    "after_date": "act is after the scoring date",
    "fulfilment": "obligation fulfilled (ends the record it fulfils)",
    "profile": "profile data: never scores",
    "duplicate": "repeats an incident already counted",
}


@dataclass(frozen=True)
class RecordLine:
    """One record in an explanation: what it is worth, whether it counts, and why."""

    record: StoredRecord
    status: Status
    points: int
    counted: int
    expires_on: dt.date | None
    removed_on: dt.date | None
    repair_from: dt.date | None
    metric_title: str
    legal_basis: str
    rule: str
    notes: tuple[str, ...] = ()

    @property
    def status_text(self) -> str:
        """A short human reason for the status."""
        return STATUS_TEXT[self.status]


@dataclass(frozen=True)
class PerkDecision:
    """Whether the resident qualifies for one perk, and until when."""

    code: str
    title: str
    provider: str
    eligible: bool
    valid_until: dt.date | None
    reason: str


@dataclass(frozen=True)
class Explanation:
    """A score and everything that went into it."""

    as_of: dt.date
    known_at: dt.datetime | None
    policy: str
    scale: Scale
    lines: tuple[RecordLine, ...]
    adjustments: tuple[Adjustment, ...]
    raw: int
    score: int | None
    grade: str | None
    forced_by: str | None
    measures: tuple[MeasureTaken, ...]
    perks: tuple[PerkDecision, ...]
    out_of_scope: str | None = None

    @property
    def counted_total(self) -> int:
        """Sum of the points that count now, before floor and ceiling."""
        return sum(line.counted for line in self.lines)

    @property
    def adjustment(self) -> int:
        """Points removed or added by the floor or ceiling (``score - raw``)."""
        return 0 if self.score is None else self.score - self.raw


def explain(
    records: Sequence[StoredRecord],
    policy: PolicySet,
    as_of: dt.date,
    *,
    known_at: dt.datetime | None = None,
    subject: Subject | None = None,
) -> Explanation:
    """Score one resident's records as of ``as_of`` and explain every record."""
    subject = subject or Subject()
    version = policy.in_force(as_of)
    rows = [r for r in records if known_at is None or r.recorded_at <= known_at]
    superseded = {r.supersedes_id for r in rows if r.kind in REPLACING_KINDS}
    repaired = repairs_of(rows)
    suspended = suspended_records(subject.suspensions, as_of, known_at)
    current = [
        r
        for r in rows
        if r.kind in COUNTING_KINDS and r.id not in superseded and r.id not in suspended
    ]
    plans = {r.id: plan_record(r, policy, subject, current, repaired.get(r.id)) for r in current}
    duplicates = _one_per_incident(p for p in plans.values() if p.record.act_date <= as_of)
    counting = [plan for plan in plans.values() if plan.record.id not in duplicates]
    outcome = run_timeline(counting, version, subject, as_of)
    for record_id, note in duplicates.items():
        outcome.notes[record_id].append(note)
    lines = tuple(
        _line(
            r,
            plans.get(r.id),
            outcome.counted,
            outcome.notes,
            as_of,
            policy,
            duplicate=r.id in duplicates,
            suspended=r.id in suspended and r.id not in superseded,
            ended=outcome.ended.get(r.id),
        )
        for r in rows
    )
    raw = (
        version.scale.baseline
        + sum(line.counted for line in lines)
        + sum(a.delta for a in outcome.adjustments)
    )
    scope = _out_of_scope(version, subject, as_of)
    final = None if scope else version.scale.clamp_score(outcome.standing)
    grade, forced_by = _grade(version, final, lines)
    return Explanation(
        as_of=as_of,
        known_at=known_at,
        policy=f"{version.name} {version.version}",
        scale=version.scale,
        lines=lines,
        adjustments=tuple(outcome.adjustments),
        raw=raw,
        score=final,
        grade=grade,
        forced_by=forced_by,
        measures=tuple(outcome.measures),
        perks=_perks(version, final, grade, as_of),
        out_of_scope=scope,
    )


def score(
    records: Sequence[StoredRecord],
    policy: PolicySet,
    as_of: dt.date,
    *,
    known_at: dt.datetime | None = None,
    subject: Subject | None = None,
) -> int | None:
    """The score alone (see :func:`explain`); None when out of scope."""
    return explain(records, policy, as_of, known_at=known_at, subject=subject).score


def repairs_of(rows: Iterable[StoredRecord]) -> dict[int, dt.date]:
    """The records repaired (by a ``repair`` row pointing at them): id -> grant date (the
    earliest, should there be two)."""
    found: dict[int, dt.date] = {}
    for r in rows:
        if r.kind == "repair" and r.supersedes_id is not None:
            day = found.get(r.supersedes_id)
            found[r.supersedes_id] = r.act_date if day is None else min(day, r.act_date)
    return found


def _one_per_incident(plans: Iterable[Plan]) -> dict[int, str]:
    """Records that repeat an incident another record already scores: id -> note.

    One incident reported by several departments (or under several metrics) counts
    once: the record with the most points counts (on a tie, the first reported). Only
    acts on or before the scoring date take part, so a later report never changes an
    earlier score.
    """
    by_incident: dict[str, list[Plan]] = defaultdict(list)
    for plan in plans:
        if plan.scored and plan.record.incident_ref is not None:
            by_incident[plan.record.incident_ref].append(plan)
    repeats = {}
    for incident, group in by_incident.items():
        winner = max(group, key=lambda p: (abs(p.points), -p.record.id))
        for plan in group:
            if plan is not winner:
                repeats[plan.record.id] = (
                    f"same incident {incident} as {winner.record.department} "
                    f"{winner.record.source_ref}: one incident counts once"
                )
    return repeats


def _line(
    record: StoredRecord,
    plan: Plan | None,
    counted: dict[int, int],
    notes: dict[int, list[str]],
    as_of: dt.date,
    policy: PolicySet,
    *,
    duplicate: bool = False,
    suspended: bool = False,
    ended: tuple[dt.date, str] | None = None,
) -> RecordLine:
    rule = policy.in_force(record.act_date)
    metric = rule.metric(record.metric)
    basis = metric.legal_basis.cite() if metric.legal_basis else "no score: no citation needed"
    status: Status
    extra = list(notes.get(record.id, ()))
    if plan is not None and ended is not None and ended[0] < plan.end:  # a measure's reset
        overlie = plan.metric.overlie
        kept = overlie.after(ended[0]) if overlie else None
        plan = replace(plan, end=ended[0], note=ended[1], removed_on=kept, cleared_on=ended[0])
    if suspended:
        status = "suspended"
    elif plan is None:
        status = (
            "retraction"
            if record.kind == "retraction"
            else "repair"
            if record.kind == "repair"
            else "superseded"
        )
    elif not plan.scored:
        status = "fulfilment" if plan.metric.kind == "fulfilment" else "profile"
    elif duplicate:
        status = "duplicate"
    elif record.act_date > as_of:
        status = "after_date"
    elif plan.repaired_on is not None and as_of >= plan.end == plan.repaired_on:
        status = "repaired"
    elif plan.removed_on is not None and as_of >= plan.removed_on:
        status = "removed"
    elif as_of >= plan.end:
        status = "cleared" if plan.cleared_on == plan.end else "expired"
        if plan.removed_on is not None:
            extra.append(f"over-lie: kept and shown until {plan.removed_on}")
    else:
        status = "counted"
    if plan is not None and plan.note and status in ("counted", "expired", "cleared", "repaired"):
        extra.append(f"ends: {plan.note}")
    end = None if plan is None or plan.end == dt.date.max else plan.end
    return RecordLine(
        record=record,
        status=status,
        points=plan.points if plan else 0,
        counted=counted.get(record.id, 0) if status == "counted" else 0,
        expires_on=end,
        removed_on=plan.removed_on if plan else None,
        repair_from=plan.repair_from if plan else None,
        metric_title=metric.title,
        legal_basis=basis,
        rule=f"{rule.name} {rule.version}",
        notes=tuple(extra),
    )


def _out_of_scope(version: PolicyVersion, subject: Subject, as_of: dt.date) -> str | None:
    scope = version.scope
    if scope.min_age is not None:
        if subject.birth_year is None:
            return "birth year unknown: the scheme applies from a minimum age"
        age = as_of.year - subject.birth_year
        if age < scope.min_age:
            return f"age {age} is below the scheme's minimum age of {scope.min_age}"
    if scope.min_residence is not None:
        since = subject.profile.get(scope.residence_attribute)
        if since is None:
            return f"no {scope.residence_attribute} date: residence cannot be established"
        if scope.min_residence.after(since) > as_of:
            return (
                f"resident since {since}: the scheme applies after "
                f"{scope.min_residence.describe()} of residence"
            )
    return None


def _grade(
    version: PolicyVersion, final: int | None, lines: Sequence[RecordLine]
) -> tuple[str | None, str | None]:
    """The grade, and the title of the metric that forced it (None when the score's band
    stands). Forcing metrics are those of ``version`` (the one in force on the scoring
    date) with a record that counts now. A grade set exactly replaces the score's band
    (several: the worst); then a capped one pulls it down if it is worse (several: the
    worst). On a tie the first record listed names the metric."""
    if final is None or not version.scale.bands:
        return None, None
    scale = version.scale
    found: dict[str, list[tuple[str, str]]] = {"set": [], "cap": []}
    for line in lines:
        metric = version.metrics.get(line.record.metric)
        if line.status == "counted" and metric is not None and metric.forces_grade is not None:
            found[metric.forces_grade_mode].append((metric.forces_grade, line.metric_title))
    grade, forced_by = scale.grade(final), None
    worst = {
        mode: min(pairs, key=lambda pair: scale.band_rank(pair[0]))
        for mode, pairs in found.items()
        if pairs
    }
    if "set" in worst and worst["set"][0] != grade:  # set to the score's own band: no force
        grade, forced_by = worst["set"]
    capped = worst.get("cap")
    if capped and (grade is None or scale.band_rank(capped[0]) < scale.band_rank(grade)):
        grade, forced_by = capped
    return grade, forced_by


def _perks(
    version: PolicyVersion, final: int | None, grade: str | None, as_of: dt.date
) -> tuple[PerkDecision, ...]:
    decisions = []
    for code, perk in version.perks.items():
        lapsed = perk.sunset is not None and perk.sunset < as_of
        eligible = not lapsed and (
            perk.essential or (final is not None and perk.eligible(final, grade))
        )
        if lapsed:
            reason = f"lapsed on {perk.sunset}"
        elif perk.essential:
            reason = "essential service: never depends on the score"
        elif final is None:
            reason = "not in the scheme's scope"
        else:
            wanted = []
            if perk.min_score is not None:
                wanted.append(f"score >= {perk.min_score}")
            if perk.max_score is not None:
                wanted.append(f"score <= {perk.max_score}")
            if perk.grades:
                wanted.append("grade " + " or ".join(perk.grades))
            reason = " and ".join(wanted) or "available to everyone"
        decisions.append(
            PerkDecision(
                code=code,
                title=perk.title,
                provider=perk.provider,
                eligible=eligible,
                valid_until=perk.valid_for.after(as_of) - dt.timedelta(days=1)
                if eligible
                else None,
                reason=reason,
            )
        )
    return tuple(decisions)
