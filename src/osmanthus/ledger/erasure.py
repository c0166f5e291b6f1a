"""Erasure: the one path by which personal data leaves the ledger, keeping the audit chain
verifiable.

Two kinds, each one transaction with one audit entry (``resident.erase``,
``records.retire``) that says what it changed and vouches for the result:

- **A resident** (who died or left the city, once the policy's retention has run): the
  resident's row becomes a tombstone (``erased-<id>``, no district, no birth year); their
  records, profile facts, dispute steps and notices lose their personal columns (source
  references, incident references, reasons, payloads; what a record is and when it was
  acted stays, attached to the tombstone, so counts and statistics hold); their e-mail
  address, password hash, e-mail outbox and rechecks are deleted; every audit entry about
  them in the redactable format 2 is redacted (subject, detail and salt removed, their
  digests kept: :mod:`osmanthus.audit.chain`).
- **Records past retention** (policy: ``retain_for`` after their removal): moved to the
  one tombstone that holds retired records (``erased-records``) with their personal
  columns erased, so the resident no longer sees them and nobody can tie them to the
  resident again; the audit entries about the resident that name them are redacted.

The database refuses every other change to these tables (:mod:`osmanthus.ledger.guards`).
The rows an erasure changes were claimed, in groups, by the entries that wrote them
(:mod:`osmanthus.audit.rows`); before changing anything the erasure checks each group
against its claim (it refuses to vouch for rows changed outside the ledger), and its own
entry **re-claims** each group as it now is: ``[table, writer's seq, group, id ranges,
hash]``. Verification checks a group against its newest re-claim, and the writer's claim
against its own list of groups, so the chain still names the first row changed outside
an erasure. Deleted current-state rows are listed (``deleted``), redacted entries too
(``redacted``): a redacted entry no erasure names is a fault.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    String,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)

from osmanthus.audit import Claim
from osmanthus.audit.chain import digest_of
from osmanthus.core import Actor
from osmanthus.errors import NotFound, ValidationError
from osmanthus.ledger.archive import archived_months
from osmanthus.ledger.archive_files import plan_redactions, redact_in_files
from osmanthus.ledger.audit_log import append_entry, take_chain
from osmanthus.ledger.audit_subjects import subject_key
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.erasure_reads import ERASURE_ACTIONS, retired_holder_id
from osmanthus.ledger.guards import RETIRED
from osmanthus.ledger.reclaims import Reclaim, Reclaimer, erasure_facts, ranges
from osmanthus.ledger.schema import (
    audit_indexed,
    audit_log,
    audit_subjects,
    dispute_events,
    disputes,
    issued_proofs,
    notice_deliveries,
    notices,
    profile_facts,
    rechecks,
    records,
    resident_contacts,
    resident_credentials,
    residents,
    suspensions,
    web_sessions,
)
from osmanthus.ledger.sealed import claim_of
from osmanthus.ledger.settling import enter_write

__all__ = [
    "ERASURE_ACTIONS",
    "Erased",
    "Reclaim",
    "erase_resident",
    "erase_residents",
    "erasure_facts",
    "retire_records",
]


@dataclass(frozen=True)
class Erased:
    """What one erasure changed."""

    seq: int
    tombstone: str
    changed: dict[str, int]  # rows changed (or moved) per table
    deleted: dict[str, int]  # rows deleted per table
    redacted: int  # audit entries redacted
    kept: int  # entries about them written before format 2 (they keep the pseudonym)


def _ids(conn: Connection, column: Any, where: Any) -> set[int]:
    return {int(k) for k in conn.execute(select(column).where(where)).scalars()}


#: The detail members that name a record (a record's entries are found by them).
_NAMING = ("record", "supersedes", "repairs", "new_record")


def _names(detail: str, records_named: set[int]) -> bool:
    if not any(f'"{name}":' in detail for name in _NAMING):
        return False
    found = json.loads(detail)
    return any(found.get(name) in records_named for name in _NAMING)


def _redact(
    conn: Connection, subjects: dict[str, set[int] | None], archive: Path | None
) -> tuple[list[int], int, set[int]]:
    """Redact the format-2 entries about these subjects (for a subject mapped to record
    ids: only those whose detail names one of them); return their seqs (those in the
    ledger and those in archived months), the number of format-1 entries about them
    (which cannot be redacted), and the archived ones, to redact in the archive's files
    once the transaction has committed (:mod:`osmanthus.ledger.archive_files`)."""

    def wanted(entry: dict[str, Any]) -> bool:
        naming = subjects[entry["subject"]]
        return naming is None or _names(entry["detail"], naming)

    archived = plan_redactions(conn, archive, subjects, wanted)
    _in_chunks(
        conn,
        archived,
        lambda part: delete(audit_subjects).where(audit_subjects.c.seq.in_(part)),
    )
    names = sorted(subjects)
    since = select(func.coalesce(func.max(audit_indexed.c.upto), 0)).scalar_subquery()
    columns = (audit_log.c.seq, audit_log.c.subject, audit_log.c.salt, audit_log.c.detail)
    rows: list[Any] = []
    for start in range(0, len(names), 500):
        part = names[start : start + 500]
        indexed = (
            select(*columns)
            .select_from(audit_subjects.join(audit_log, audit_log.c.seq == audit_subjects.c.seq))
            .where(
                audit_subjects.c.subject_key.in_({subject_key(n) for n in part}),
                audit_subjects.c.seq <= since,
                audit_log.c.subject.in_(part),
            )
        )
        recent = select(*columns).where(audit_log.c.seq > since, audit_log.c.subject.in_(part))
        rows += conn.execute(union_all(indexed, recent)).all()
    chosen = []
    for r in rows:
        naming = subjects[r.subject]
        if naming is None or _names(r.detail, naming):
            chosen.append(r)
    kept = sum(1 for r in chosen if r.salt is None)
    changes = [
        {"k": r.seq, "sd": digest_of(r.salt, r.subject), "dd": digest_of(r.salt, r.detail)}
        for r in chosen
        if r.salt is not None
    ]
    if not changes:
        return sorted(archived), kept, archived
    conn.execute(
        update(audit_log)
        .where(audit_log.c.seq == bindparam("k"))
        .values(
            subject=None,
            detail="{}",
            salt=None,
            subject_digest=bindparam("sd"),
            detail_digest=bindparam("dd"),
        ),
        changes,
    )
    seqs = {int(c["k"]) for c in changes}
    _in_chunks(
        conn, seqs, lambda part: delete(audit_subjects).where(audit_subjects.c.seq.in_(part))
    )
    _in_chunks(conn, seqs, lambda part: delete(rechecks).where(rechecks.c.check_seq.in_(part)))
    return sorted(seqs | archived), kept, archived


def erase_resident(
    engine: Engine,
    resident_id: int,
    *,
    actor: Actor,
    purpose: str,
    dry_run: bool = False,
    archive: Path | None = None,
) -> Erased:
    """Erase the link between a resident and everything the ledger holds about them (see
    the module); refused while a dispute or an application of theirs is under way. With
    ``dry_run``, check and count, write nothing. ``archive``: the folder of the audit
    log's archived months, whose entries about them are redacted too."""
    return erase_residents(
        engine, [resident_id], actor=actor, purpose=purpose, dry_run=dry_run, archive=archive
    )


def erase_residents(
    engine: Engine,
    resident_ids: Sequence[int],
    *,
    actor: Actor,
    purpose: str,
    dry_run: bool = False,
    archive: Path | None = None,
) -> Erased:
    """:func:`erase_resident` for several residents in one transaction and one entry
    (rows they share a group with are re-claimed once); all or none."""
    result, archived = _erase_residents(engine, resident_ids, actor, purpose, dry_run, archive)
    _redact_archived(engine, archive, archived)
    return result


def _redact_archived(engine: Engine, archive: Path | None, archived: set[int]) -> None:
    """After the erasure's transaction: the archived entries it redacted, in the files."""
    if archived and archive is not None:
        with read_only(engine) as conn:
            months = archived_months(conn)
        redact_in_files(archive, months, archived)


def _erase_residents(
    engine: Engine,
    resident_ids: Sequence[int],
    actor: Actor,
    purpose: str,
    dry_run: bool,
    archive: Path | None,
) -> tuple[Erased, set[int]]:
    with database_errors("erasure"), engine.begin() as conn:
        enter_write(conn)
        take_chain(conn)  # no entry about them left waiting in the overflow
        wanted = sorted({int(k) for k in resident_ids})
        rows = conn.execute(select(residents).where(residents.c.id.in_(wanted))).all()
        found = {int(r.id): r for r in rows}
        for resident_id in wanted:
            if resident_id not in found:
                raise NotFound(f"resident {resident_id}: no such resident")
            if found[resident_id].pseudonym.startswith("erased-"):
                raise ValidationError(f"resident {resident_id}: already erased")
        waiting = conn.execute(
            select(disputes.c.id, disputes.c.resident_id).where(
                disputes.c.resident_id.in_(wanted),
                disputes.c.status.in_(("open", "appealed")),
            )
        ).first()
        if waiting is not None:
            raise ValidationError(
                f"resident {waiting.resident_id}: dispute {waiting.id} is under way: erase "
                "once it is decided"
            )
        theirs = residents.c.id.in_(wanted)
        their_disputes = _ids(conn, disputes.c.id, disputes.c.resident_id.in_(wanted))
        touched = {
            "residents": set(wanted),
            "records": _ids(conn, records.c.id, records.c.resident_id.in_(wanted)),
            "profile_facts": _ids(
                conn, profile_facts.c.id, profile_facts.c.resident_id.in_(wanted)
            ),
            "dispute_events": _ids(
                conn, dispute_events.c.id, dispute_events.c.dispute_id.in_(their_disputes)
            ),
            "suspensions": _ids(conn, suspensions.c.id, suspensions.c.resident_id.in_(wanted)),
            "notices": _ids(conn, notices.c.id, notices.c.resident_id.in_(wanted)),
            "issued_proofs": _ids(
                conn, issued_proofs.c.id, issued_proofs.c.resident_id.in_(wanted)
            ),
        }
        gone = {
            "resident_contacts": _ids(
                conn,
                resident_contacts.c.resident_id,
                resident_contacts.c.resident_id.in_(wanted),
            ),
            "resident_credentials": _ids(
                conn,
                resident_credentials.c.resident_id,
                resident_credentials.c.resident_id.in_(wanted),
            ),
        }
        tombstone = f"erased-{wanted[0]}" if len(wanted) == 1 else f"{len(wanted)} residents"
        if dry_run:
            counted = Erased(
                0,
                tombstone,
                {t: len(k) for t, k in touched.items() if k},
                {t: len(k) for t, k in gone.items() if k},
                0,
                0,
            )
            return counted, set()
        reclaimer = Reclaimer(conn, touched)
        outbox = _ids(
            conn,
            notice_deliveries.c.notice_id,
            notice_deliveries.c.notice_id.in_(touched["notices"]),
        )
        conn.execute(delete(notice_deliveries).where(notice_deliveries.c.notice_id.in_(outbox)))
        conn.execute(delete(resident_contacts).where(resident_contacts.c.resident_id.in_(wanted)))
        conn.execute(
            delete(resident_credentials).where(resident_credentials.c.resident_id.in_(wanted))
        )
        conn.execute(  # their browser sessions (which name them by pseudonym)
            delete(web_sessions).where(
                web_sessions.c.kind == "resident",
                web_sessions.c.subject.in_([found[r].pseudonym for r in wanted]),
            )
        )
        redacted, kept, archived = _redact(
            conn, {found[r].pseudonym: None for r in wanted}, archive
        )
        _erase_records(conn, touched["records"], None)
        _in_chunks(
            conn,
            touched["profile_facts"],
            lambda part: (
                update(profile_facts)
                .where(profile_facts.c.id.in_(part))
                .values(source_ref=_erased_ref(profile_facts.c.id))
            ),
        )
        _in_chunks(
            conn,
            touched["dispute_events"],
            lambda part: (
                update(dispute_events).where(dispute_events.c.id.in_(part)).values(reason=None)
            ),
        )
        _in_chunks(
            conn,
            touched["notices"],
            lambda part: update(notices).where(notices.c.id.in_(part)).values(payload="{}"),
        )
        if their_disputes:
            conn.execute(
                update(disputes)
                .where(disputes.c.id.in_(their_disputes))
                .values(reason="", evidence_ref=None)
            )
        conn.execute(
            update(residents)
            .where(theirs)
            .values(pseudonym=_erased_ref(residents.c.id), district="", birth_year=0)
        )
        reclaims = reclaimer.reclaims()
        claims = (
            [claim_of(conn, "disputes", disputes.c.id.in_(their_disputes))]
            if their_disputes
            else []
        )
        entry = append_entry(
            conn,
            actor=str(actor),
            action="resident.erase",
            purpose=purpose,
            detail={
                "tombstones": ranges(wanted),
                "reclaims": [r.as_detail() for r in reclaims],
                "deleted": {t: sorted(k) for t, k in gone.items() if k},
                "redacted": ranges(redacted),
                "format1_entries_kept": kept,
            },
            rows=claims,
        )
        erased = Erased(
            entry.seq,
            tombstone,
            {t: len(k) for t, k in touched.items() if k},
            {t: len(k) for t, k in gone.items() if k},
            len(redacted),
            kept,
        )
        return erased, archived


def _in_chunks(conn: Connection, ids: set[int], statement: Any, size: int = 10_000) -> None:
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        conn.execute(statement(ordered[start : start + size]))


def _erased_ref(key: Any) -> Any:
    """``'erased-' || id``: the erased form of a source reference (the guards check it)."""
    return literal("erased-", String) + cast(key, String)


def _erase_records(conn: Connection, ids: set[int], to: int | None) -> None:
    """Erase the personal columns of these records (and, with ``to``, move them to the
    tombstone of retired records)."""
    if not ids:
        return
    values: dict[str, Any] = {
        "source_ref": _erased_ref(records.c.id),
        "incident_ref": None,
        "reason": None,
    }
    if to is not None:
        values["resident_id"] = to
    _in_chunks(
        conn, ids, lambda part: update(records).where(records.c.id.in_(part)).values(**values)
    )


def _retired_holder(conn: Connection, now: dt.datetime, actor: Actor) -> tuple[int, list[Claim]]:
    """The tombstone resident that holds retired records (registered on first use)."""
    found = retired_holder_id(conn)
    if found is not None:
        return found, []
    new = conn.execute(
        insert(residents)
        .values(pseudonym=RETIRED, district="", birth_year=0, registered_at=now)
        .returning(residents.c.id)
    ).scalar_one()
    return int(new), [claim_of(conn, "residents", residents.c.id == new)]


def retire_records(
    engine: Engine,
    record_ids: Sequence[int],
    *,
    actor: Actor,
    purpose: str,
    now: dt.datetime,
    archive: Path | None = None,
) -> Erased:
    """Move records past their retention to the tombstone of retired records, their
    personal columns erased, and redact the entries about their resident that name them
    (see the module; ``archive``: in the audit log's archived months too)."""
    result, archived = _retire_records(engine, record_ids, actor, purpose, now, archive)
    _redact_archived(engine, archive, archived)
    return result


def _retire_records(
    engine: Engine,
    record_ids: Sequence[int],
    actor: Actor,
    purpose: str,
    now: dt.datetime,
    archive: Path | None,
) -> tuple[Erased, set[int]]:
    with database_errors("erasure"), engine.begin() as conn:
        enter_write(conn)
        take_chain(conn)  # no entry about them left waiting in the overflow
        ids = {int(k) for k in record_ids}
        owners = conn.execute(
            select(records.c.id, residents.c.pseudonym)
            .join(residents, residents.c.id == records.c.resident_id)
            .where(records.c.id.in_(ids))
        ).all()
        if len(owners) != len(ids):
            missing = min(ids - {int(r.id) for r in owners})
            raise NotFound(f"record {missing}: no such record")
        held = {int(r.id) for r in owners if r.pseudonym.startswith("erased-")}
        if held:
            raise ValidationError(f"record {min(held)}: already erased")
        holder, registered = _retired_holder(conn, now, actor)
        reclaimer = Reclaimer(conn, {"records": ids})
        by_owner: dict[str, set[int] | None] = defaultdict(set)
        for r in owners:
            mine = by_owner[r.pseudonym]
            assert mine is not None
            mine.add(int(r.id))
        # the entries about them naming them
        redacted, _, archived = _redact(conn, dict(by_owner), archive)
        _erase_records(conn, ids, holder)
        entry = append_entry(
            conn,
            actor=str(actor),
            action="records.retire",
            purpose=purpose,
            detail={
                "records": len(ids),
                "reclaims": [r.as_detail() for r in reclaimer.reclaims()],
                "redacted": ranges(redacted),
            },
            rows=registered,
        )
        retired = Erased(entry.seq, RETIRED, {"records": len(ids)}, {}, len(redacted), 0)
        return retired, archived
