"""The retention pass: residents and records whose retention has run are erased.

Per the ``[retention]`` of the policy version in force today
(:class:`osmanthus.policy.retention.Retention`):

1. **Residents** whose death (or departure from the city) the civil registry reported as
   a dated profile fact, once ``after_death`` (``after_departure``) has passed since
   that date: erased (:func:`osmanthus.ledger.erasure.erase_resident`). One with a
   dispute or an application under way is left for a later pass, and the report says so.
2. **Records** removed from what anyone sees (the end of their over-lie period, or their
   end without one; a retraction from the day it was recorded) at least ``retain_for``
   (their metric's) or ``records_after_removal`` ago: moved to the tombstone of retired
   records, their personal columns erased
   (:func:`osmanthus.ledger.erasure.retire_records`), a record together with its
   corrections, retraction and repair. A record under dispute waits.

Only records old enough to be candidates are read (their act date is at least the
shortest retention period ago), and the residents holding them are scored by the
reference scorer; the pass remembers for each the first day something of theirs may be
due (:mod:`osmanthus.ledger.retention_checks`) and scores them again only then, or when
their rows or the policy changed, so a daily pass on a large ledger scores few.
``dry_run`` counts and writes nothing. The service's upkeep runs it daily; ``osmanthus
retention run [--dry-run]`` by hand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field

from osmanthus.core import Actor, StoredRecord, Subject
from osmanthus.errors import ValidationError
from osmanthus.ledger import Ledger, read_only
from osmanthus.ledger.erasure import erase_residents, retire_records
from osmanthus.ledger.reading import profile_of, record_rows, suspensions_of
from osmanthus.ledger.retention_checks import (
    disputed_records,
    newest_dates,
    stale_holders,
    store_checks,
    waiting_disputes,
)
from osmanthus.policy import PolicySet, PolicyVersion
from osmanthus.policy.duration import Period
from osmanthus.scoring import RecordLine, explain

__all__ = ["RETAINER", "RetentionReport", "retention_pass"]

RETAINER = Actor("platform", "retention")
#: Records retired per transaction, and residents erased per transaction: each such
#: transaction holds the ledger's write lock (on SQLite, every writer waits), about 0.6 s
#: for 1,000 records on the bench's machine.
BATCH = 1_000
RESIDENTS_BATCH = 50


@dataclass
class RetentionReport:
    """What a pass erased (or, dry, would erase), and what it left for later."""

    today: dt.date
    dry_run: bool
    residents: dict[str, int] = field(default_factory=dict)  # erased, by reason
    records: int = 0
    skipped: list[str] = field(default_factory=list)  # one line each
    entries_redacted: int = 0
    record_ids: list[int] = field(default_factory=list)  # those retired (or, dry, due)
    scored: int = 0  # residents scored to find them


def _latest_before(period: Period, today: dt.date) -> dt.date:
    """The latest day ``d`` with ``period.after(d) <= today``."""
    lo, hi = dt.date(1900, 1, 1), today
    while lo < hi:
        mid = lo + (hi - lo + dt.timedelta(days=1)) / 2
        if period.after(mid) <= today:
            lo = mid
        else:
            hi = mid - dt.timedelta(days=1)
    return lo


def _departed(ledger: Ledger, version: PolicyVersion, today: dt.date) -> list[tuple[int, str]]:
    """``(resident id, reason)`` of residents whose death or departure retention ran."""
    retention = version.retention
    found: dict[int, str] = {}
    with read_only(ledger.engine) as conn:
        for attribute, period, reason in (
            (retention.death_attribute, retention.after_death, "death"),
            (retention.departure_attribute, retention.after_departure, "departure"),
        ):
            if attribute is None or period is None:
                continue
            for resident_id, day in newest_dates(conn, attribute):
                if period.after(day) <= today:
                    found.setdefault(resident_id, reason)
    return sorted(found.items())


def _periods(policy: PolicySet) -> list[Period]:
    periods = []
    for version in policy.versions:
        if version.retention.records_after_removal is not None:
            periods.append(version.retention.records_after_removal)
        periods += [m.retain_for for m in version.metrics.values() if m.retain_for]
    return periods


def _retain_for(policy: PolicySet, record: StoredRecord) -> Period | None:
    rule = policy.in_force(record.act_date)
    metric = rule.metrics.get(record.metric)
    if metric is not None and metric.retain_for is not None:
        return metric.retain_for
    return policy.in_force(record.act_date).retention.records_after_removal


def _removed_on(line: RecordLine) -> dt.date | None:
    """The day a record stopped being shown to anyone (None: it still is)."""
    if line.status in ("counted", "suspended", "after_date"):
        return None
    if line.status in ("expired", "cleared") and line.removed_on is not None:
        return None  # held in its over-lie period: still shown
    if line.status == "removed":
        return line.removed_on
    if line.status in ("expired", "cleared", "repaired", "duplicate"):
        return line.expires_on
    return None


def _retirable(
    policy: PolicySet, rows: list[StoredRecord], subject: Subject, today: dt.date
) -> tuple[list[int], dt.date | None]:
    """The ids of a resident's records (with their corrections, retraction and repair)
    whose retention has run, and the first day another of them may be (None: never, as
    things stand)."""
    by_id = {r.id: r for r in rows}

    def root(r: StoredRecord) -> int:
        seen = 0
        while r.supersedes_id is not None and r.supersedes_id in by_id and seen < 100:
            r, seen = by_id[r.supersedes_id], seen + 1
        return r.id

    chains: dict[int, list[StoredRecord]] = defaultdict(list)
    for r in rows:
        chains[root(r)].append(r)
    lines = {ln.record.id: ln for ln in explain(rows, policy, today, subject=subject).lines}
    found: list[int] = []
    kept_incidents = set()
    dues: list[dt.date] = []
    for members in chains.values():
        current = [m for m in members if lines[m.id].status not in ("superseded", "repair")]
        retraction = next((m for m in members if m.kind == "retraction"), None)
        later: dt.date | None = None  # when it will stop being shown, if known
        if retraction is not None:
            gone: dt.date | None = retraction.recorded_at.date()
        elif len(current) == 1:
            line = lines[current[0].id]
            gone = _removed_on(line)
            if gone is None:
                later = _will_be_removed(line, today)
        else:
            gone = None
        period = _retain_for(policy, members[0])
        if gone is None or period is None or period.after(gone) > today:
            kept_incidents |= {m.incident_ref for m in members if m.incident_ref}
            known = gone or later
            if period is not None and known is not None:
                dues.append(period.after(known))
            continue
        found += [m.id for m in members]
    # a fulfilment stays while a record of its incident stays
    drop = {
        i
        for i in found
        if by_id[i].incident_ref in kept_incidents and lines[i].status in ("fulfilment", "profile")
    }
    if drop:  # fulfilments held for a record that stays: looked at again tomorrow
        dues.append(today + dt.timedelta(days=1))
    return [i for i in found if i not in drop], min(dues, default=None)


def _will_be_removed(line: RecordLine, today: dt.date) -> dt.date | None:
    """The day a record still shown will stop being shown, as things stand (None: not
    known: it never ends)."""
    if line.status in ("suspended", "after_date"):
        return today + dt.timedelta(days=1)  # looked at again tomorrow
    if line.removed_on is not None:
        return line.removed_on
    return line.expires_on


def _policy_tag(policy: PolicySet) -> str:
    """A short fingerprint of the policy (a check made under another is stale)."""
    text = json.dumps([v.model_dump(mode="json") for v in policy.versions], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def retention_pass(
    ledger: Ledger, today: dt.date | None = None, *, dry_run: bool = False
) -> RetentionReport:
    """Erase the residents and retire the records whose retention ran by ``today``
    (default: the city's today)."""
    real = ledger.today()
    day = today or real
    if day > real:
        raise ValidationError(f"today: {day} is in the future (today is {real})")
    report = RetentionReport(day, dry_run)
    version = ledger.policy.in_force(day)
    departed = _departed(ledger, version, day)
    with read_only(ledger.engine) as conn:
        waiting = waiting_disputes(conn, [r for r, _ in departed])
    due: dict[str, list[int]] = defaultdict(list)
    for resident_id, reason in departed:
        if resident_id in waiting:
            report.skipped.append(
                f"resident {resident_id}: dispute {waiting[resident_id]} is under way: "
                "erase once it is decided"
            )
        else:
            due[reason].append(resident_id)
    for reason, ids in sorted(due.items()):
        report.residents[reason] = len(ids)
        if dry_run:
            continue
        for start in range(0, len(ids), RESIDENTS_BATCH):
            done = erase_residents(
                ledger.engine,
                ids[start : start + RESIDENTS_BATCH],
                actor=RETAINER,
                purpose=f"retention after {reason} ended",
                archive=ledger.audit_archive_dir,
            )
            report.entries_redacted += done.redacted
    periods = _periods(ledger.policy)
    if not periods:
        return report
    cutoff = min(_latest_before(p, day) for p in periods)
    retire: list[int] = []
    tag = _policy_tag(ledger.policy)
    checked: dict[int, dt.date | None] = {}
    with read_only(ledger.engine) as conn:
        holders = conn.execute(stale_holders(cutoff, day, tag)).scalars()
        disputed = disputed_records(conn)
        for resident_id in [int(k) for k in holders]:
            rows = record_rows(conn, resident_id, None)
            subject = Subject(
                birth_year=None,
                profile=profile_of(conn, resident_id, None),
                suspensions=suspensions_of(conn, resident_id),
            )
            ids, next_due = _retirable(ledger.policy, rows, subject, day)
            if disputed & set(ids):
                report.skipped.append(
                    f"resident {resident_id}: a record past retention is under dispute"
                )
                continue
            retire += ids
            checked[resident_id] = next_due
        report.scored = len(checked)
    report.records = len(retire)
    report.record_ids = retire
    if dry_run:
        return report
    store_checks(ledger.engine, checked, now=ledger.now(), policy=tag)
    for start in range(0, len(retire), BATCH):
        done = retire_records(
            ledger.engine,
            retire[start : start + BATCH],
            actor=RETAINER,
            purpose="records past their retention",
            now=ledger.now(),
            archive=ledger.audit_archive_dir,
        )
        report.entries_redacted += done.redacted
    return report
