"""Closed months of the audit chain, exported and detached (the ledger's side).

The audit log grows with every read of personal data. A closed month (UTC) is archived
as a *segment*: the entries from the one after the previous archive's last up to the
last entry written before the month ended. :mod:`osmanthus.reports.archive` verifies the
ledger, writes the segment to a file, signs a checkpoint of its last entry (with the
ledger's row floors at that moment) and hands it here: :func:`detach_segment` records
the archive in ``audit_archives``, appends an ``audit.archive`` entry and deletes the
segment's entries from ``audit_log``, in one transaction. The database allows that
DELETE for entries an archive covers and for no others (migration 0019).

After that, verification starts from the archived boundary (:func:`archived_prefix`):
the first live entry must link to the hash the signed checkpoint states. The
``audit.archive`` entry carries the archived entries' row claims and erasure facts
(:func:`carried`), so every row of the ledger is still checked against the chain
without the archive's file; with the files, the archived entries themselves are. The
first pseudonym-key fingerprint is carried into the live chain when the segment holding
it is detached, so that every command still checks the key.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, delete, func, insert, select

from osmanthus.audit import Claim, claim_detail, parse_claims
from osmanthus.errors import AuditChainBroken, ValidationError
from osmanthus.ledger.audit_log import append_entry, iter_entries
from osmanthus.ledger.audit_subjects import PASS_MOST, index_subjects
from osmanthus.ledger.database import database_errors
from osmanthus.ledger.key_fingerprint import KEY_ACTION
from osmanthus.ledger.schema import audit_archives, audit_indexed, audit_log
from osmanthus.ledger.settling import settle

__all__ = [
    "ARCHIVE_ACTION",
    "Archived",
    "Carried",
    "Segment",
    "archived_months",
    "archived_prefix",
    "carried",
    "closed_month",
    "detach_segment",
    "first_unarchived_month",
    "month_bounds",
    "next_segment",
    "segment_entries",
]

ARCHIVE_ACTION = "audit.archive"


@dataclass(frozen=True)
class Segment:
    """The entries of one closed month still in ``audit_log``."""

    month: str  # YYYY-MM
    first: int
    last: int
    hash: str  # entry ``last``'s hash, as stored
    start_hash: str  # entry ``first``'s prev_hash (the previous archive's last hash)

    @property
    def entries(self) -> int:
        return self.last - self.first + 1

    @property
    def file_name(self) -> str:
        return f"audit-{self.month}.jsonl.gz"


@dataclass(frozen=True)
class Archived:
    """One archived month as ``audit_archives`` holds it."""

    month: str
    first: int
    last: int
    hash: str
    file_name: str
    document: dict[str, Any]  # the signed checkpoint of entry ``last``

    @property
    def floors(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.document["body"]["rows"].items()}


def month_bounds(month: str) -> tuple[str, str]:
    """The first instants of ``month`` and of the month after, as stored ``at`` texts;
    :class:`ValidationError` for anything but ``YYYY-MM``."""
    try:
        start = dt.datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise ValidationError(f"month: expected YYYY-MM, found {month!r}") from None
    after = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.strftime("%Y-%m-%dT00:00:00"), after.strftime("%Y-%m-%dT00:00:00")


def closed_month(month: str) -> None:
    """:class:`ValidationError` unless ``month`` (``YYYY-MM``, UTC) has ended."""
    _, after = month_bounds(month)
    if after > dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"):
        raise ValidationError(f"month {month}: not closed yet (archive a month once it ended)")


def archived_months(conn: Connection) -> list[Archived]:
    """Every archive, oldest first; :class:`AuditChainBroken` unless they follow each
    other from entry 1 without a gap."""
    found = []
    expected = 1
    rows = conn.execute(select(audit_archives).order_by(audit_archives.c.first_seq)).all()
    for row in rows:
        if row.first_seq != expected:
            raise AuditChainBroken(
                f"audit archive {row.month}: starts at entry {row.first_seq}, expected "
                f"{expected} (archives must follow each other from entry 1)",
                seq=expected,
            )
        found.append(
            Archived(
                row.month,
                row.first_seq,
                row.last_seq,
                row.hash,
                row.file_name,
                json.loads(row.document),
            )
        )
        expected = row.last_seq + 1
    return found


def archived_prefix(conn: Connection) -> Archived | None:
    """The newest archive (the chain's live part starts after its last entry)."""
    found = archived_months(conn)
    return found[-1] if found else None


def first_unarchived_month(conn: Connection) -> str | None:
    """The month (``YYYY-MM``, UTC) of the oldest entry not archived, or None."""
    done = archived_prefix(conn)
    first = (done.last if done else 0) + 1
    at = conn.execute(select(audit_log.c.at).where(audit_log.c.seq == first)).scalar()
    return None if at is None else str(at)[:7]


def next_segment(conn: Connection, month: str) -> Segment | None:
    """The entries of ``month`` to archive next, or None when it wrote none; refused when
    an earlier month is not archived yet or ``month`` is not closed."""
    start, after = month_bounds(month)
    closed_month(month)
    done = archived_prefix(conn)
    if done is not None and done.month >= month:
        raise ValidationError(f"month {month}: already archived (through {done.month})")
    first = (done.last if done else 0) + 1
    earliest = conn.execute(select(audit_log.c.at).where(audit_log.c.seq == first)).scalar()
    if earliest is not None and earliest < start:
        raise ValidationError(
            f"month {month}: entry {first} of {earliest[:7]} is not archived yet: archive "
            f"{earliest[:7]} first"
        )
    last = conn.execute(
        select(func.max(audit_log.c.seq)).where(audit_log.c.seq >= first, audit_log.c.at < after)
    ).scalar()
    if last is None:
        return None
    ends = conn.execute(
        select(audit_log.c.seq, audit_log.c.prev_hash, audit_log.c.hash).where(
            audit_log.c.seq.in_((first, last))
        )
    ).all()
    by_seq = {row.seq: row for row in ends}
    return Segment(month, first, last, by_seq[last].hash, by_seq[first].prev_hash)


def segment_entries(conn: Connection, segment: Segment) -> Iterator[dict[str, Any]]:
    """The segment's entries, every column, in order."""
    for entry in iter_entries(conn, after=segment.first - 1):
        if entry["seq"] > segment.last:
            return
        yield entry


def detach_segment(
    engine: Engine, segment: Segment, document: dict[str, Any], *, actor: str
) -> int:
    """Record the archive, append its audit entry and delete the segment's entries from
    ``audit_log``, in one transaction; return the entries deleted."""
    body = document["body"]
    if (int(body["seq"]), body["hash"]) != (segment.last, segment.hash):
        raise ValidationError(
            f"audit archive {segment.month}: the checkpoint is not of entry {segment.last}"
        )
    while index_subjects(engine) == PASS_MOST:  # an erasure finds archived entries there
        pass
    with database_errors("audit archive"), engine.begin() as conn:
        # every other writer waits (an erasure must not read the archived months while
        # this one's entries leave the table) and holds new ones off until it commits
        settle(conn)
        indexed = conn.execute(select(func.max(audit_indexed.c.upto))).scalar() or 0
        if indexed < segment.last:
            raise ValidationError(
                f"audit archive {segment.month}: the audit subject index reaches entry "
                f"{indexed}, not the month's last entry {segment.last}: run again"
            )
        stored = conn.execute(
            select(audit_log.c.hash).where(audit_log.c.seq == segment.last)
        ).scalar()
        if stored != segment.hash:
            raise AuditChainBroken(
                f"audit entry {segment.last}: changed while its month was archived",
                seq=segment.last,
            )
        conn.execute(
            insert(audit_archives).values(
                month=segment.month,
                first_seq=segment.first,
                last_seq=segment.last,
                hash=segment.hash,
                file_name=segment.file_name,
                at=body["at"],
                document=json.dumps(document, sort_keys=True, separators=(",", ":")),
            )
        )
        _carry_key(conn, segment, actor)
        claims, erasures = _carried(conn, segment)
        append_entry(
            conn,
            actor=actor,
            action=ARCHIVE_ACTION,
            purpose=f"archive the audit entries of {segment.month}",
            detail={
                "month": segment.month,
                "first": segment.first,
                "last": segment.last,
                "hash": segment.hash,
                "file": segment.file_name,
                "claims": claims,
                "erasures": erasures,
            },
        )
        deleted = conn.execute(
            delete(audit_log).where(audit_log.c.seq.between(segment.first, segment.last))
        ).rowcount
    return int(deleted)


def _carried(conn: Connection, segment: Segment) -> tuple[list[Any], list[Any]]:
    """What the segment's entries said of the ledger's rows, carried into the live chain
    so that every row stays checked without the archive's file: each entry's row claims
    (``[seq, action, claims]``) and each erasure (``[seq, action, detail]``)."""
    from osmanthus.ledger.erasure_reads import ERASURE_ACTIONS

    columns = (audit_log.c.seq, audit_log.c.action, audit_log.c.detail, audit_log.c.sealed)
    query = (
        select(*columns)
        .where(
            audit_log.c.seq.between(segment.first, segment.last),
            audit_log.c.sealed.is_not(None)
            | audit_log.c.detail.like('%"sealed":{%')
            | audit_log.c.action.in_((*ERASURE_ACTIONS, ARCHIVE_ACTION)),
        )
        .order_by(audit_log.c.seq)
    )
    claims: list[Any] = []
    erasures: list[Any] = []
    for row in conn.execute(query):
        if row.action == ARCHIVE_ACTION:  # an earlier archive's, archived in its turn
            earlier = json.loads(row.detail)
            claims += earlier["claims"]
            erasures += earlier["erasures"]
            continue
        found = parse_claims(row.detail, row.sealed)
        if found:
            claims.append([row.seq, row.action, claim_detail(found)])
        if row.action in ERASURE_ACTIONS:
            erasures.append([row.seq, row.action, json.loads(row.detail)])
    # in entry order (an earlier archive's come at its own entry): the newest claim of a
    # current-state row is the last one
    return sorted(claims, key=lambda c: int(c[0])), sorted(erasures, key=lambda e: int(e[0]))


class Carried(NamedTuple):
    """What the live ``audit.archive`` entries carry of the archived months' entries, in
    entry order: row claims ``(seq, action, claim)`` and erasures ``(seq, action,
    detail)``."""

    claims: list[tuple[int, str, Claim]]
    erasures: list[tuple[int, str, dict[str, Any]]]


def carried(conn: Connection, after: int = 0) -> Carried:
    """What the ``audit.archive`` entries after entry ``after`` carry (:class:`Carried`)."""
    claims: list[tuple[int, str, Claim]] = []
    erasures: list[tuple[int, str, dict[str, Any]]] = []
    details = select(audit_log.c.detail).where(
        audit_log.c.action == ARCHIVE_ACTION, audit_log.c.seq > after
    )
    for (detail,) in conn.execute(details.order_by(audit_log.c.seq)):
        found = json.loads(detail)
        for seq, action, sealed in found["claims"]:
            claims += [
                (int(seq), str(action), Claim.from_detail(table, claim))
                for table, claim in sealed.items()
            ]
        erasures += [(int(seq), str(action), facts) for seq, action, facts in found["erasures"]]
    return Carried(sorted(claims, key=lambda c: c[0]), sorted(erasures, key=lambda e: e[0]))


def _carry_key(conn: Connection, segment: Segment, actor: str) -> None:
    """Carry the pseudonym key's first fingerprint into the live chain when the segment
    holds it (every command compares its key with the first one recorded)."""
    first = conn.execute(
        select(audit_log.c.seq, audit_log.c.detail)
        .where(audit_log.c.action == KEY_ACTION)
        .order_by(audit_log.c.seq)
        .limit(1)
    ).first()
    if first is None or first.seq > segment.last:
        return
    append_entry(
        conn,
        actor=actor,
        action=KEY_ACTION,
        purpose="carry the pseudonym key's fingerprint past an archived month",
        detail={**json.loads(first.detail), "carried_from": first.seq},
    )
