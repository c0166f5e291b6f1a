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
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
    or_,
    select,
    union_all,
    update,
)

from osmanthus.audit import CHUNK, Claim, group_hash, parse_claims
from osmanthus.audit.chain import digest_of
from osmanthus.core import Actor
from osmanthus.errors import NotFound, ValidationError
from osmanthus.ledger.archive import Carried, archived_months, carried
from osmanthus.ledger.archive_files import plan_redactions, redact_in_files
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.audit_subjects import subject_key
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.erasure_reads import ERASURE_ACTIONS, retired_holder_id
from osmanthus.ledger.guards import RETIRED
from osmanthus.ledger.row_check import RowsTampered, nth_id
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
from osmanthus.ledger.sealed import SEALED, claim_of, sealed_rows
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
class Reclaim:
    """A group of rows a writer's claim covered, vouched for anew by an erasure."""

    table: str
    writer: int  # the seq of the entry whose claim covers the group
    group: int
    ids: list[list[int]]  # inclusive id ranges
    hash: str
    seq: int = 0  # the erasure's entry (0 until written)

    def as_detail(self) -> list[Any]:
        return [self.table, self.writer, self.group, self.ids, self.hash]


@dataclass
class ErasureFacts:
    """What the erasures in the chain said: re-claims (newest per group), deleted rows and
    redacted entries (each with the erasure's seq)."""

    reclaims: dict[tuple[str, int, int], Reclaim] = field(default_factory=dict)
    deleted: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    redacted: dict[int, int] = field(default_factory=dict)

    def add(self, seq: int, detail: dict[str, Any]) -> None:
        for table, writer, group, ids, digest in detail.get("reclaims", []):
            self.reclaims[(table, writer, group)] = Reclaim(table, writer, group, ids, digest, seq)
        for table, keys in detail.get("deleted", {}).items():
            for key in keys:
                self.deleted[table][int(key)] = seq
        for lo, hi in detail.get("redacted", []):
            for entry in range(lo, hi + 1):
                self.redacted[entry] = seq


def erasure_facts(
    conn: Connection,
    upto: int | None = None,
    *,
    archived: Iterable[tuple[int, str, dict[str, Any]]] = (),
) -> ErasureFacts:
    """Every erasure's facts in the chain (up to entry ``upto``); ``archived``: the
    ``(seq, action, detail)`` of the erasures in archived months."""
    facts = ErasureFacts()
    for seq, _, detail in archived:
        facts.add(seq, detail)
    query = select(audit_log.c.seq, audit_log.c.detail).where(
        audit_log.c.action.in_(ERASURE_ACTIONS)
    )
    if upto is not None:
        query = query.where(audit_log.c.seq <= upto)
    for seq, detail in conn.execute(query.order_by(audit_log.c.seq)):
        facts.add(int(seq), json.loads(detail))
    return facts


@dataclass(frozen=True)
class Erased:
    """What one erasure changed."""

    seq: int
    tombstone: str
    changed: dict[str, int]  # rows changed (or moved) per table
    deleted: dict[str, int]  # rows deleted per table
    redacted: int  # audit entries redacted
    kept: int  # entries about them written before format 2 (they keep the pseudonym)


def _ranges(ids: Iterable[int]) -> list[list[int]]:
    """Ids (any order, repeated or not) as inclusive ranges, as JSON lists (NumPy is
    loaded here, when an erasure writes: verify reads this module's facts without it)."""
    import numpy as np

    from osmanthus.ledger.seal_columns import id_ranges

    unique = np.unique(np.fromiter(ids, dtype=np.int64))
    return [[lo, hi] for lo, hi in id_ranges(unique)]


class _Writers:
    """The claims of one table's rows, to find the group each row was vouched for in."""

    def __init__(self, conn: Connection, tables: set[str], archived: Carried) -> None:
        self.claims: dict[str, dict[int, Claim]] = defaultdict(dict)
        # per table, every claimed id range: (first id, last id, ids before it, seq)
        self.spans: dict[str, list[tuple[int, int, int, int]]] = defaultdict(list)
        with_claims = select(audit_log.c.seq, audit_log.c.detail, audit_log.c.sealed).where(
            (audit_log.c.sealed.is_not(None)) | (audit_log.c.detail.like('%"sealed":{%'))
        )
        for seq, _, claim in archived.claims:  # those of archived months' entries
            self._add(claim, seq, tables)
        for seq, detail, sealed in conn.execute(with_claims.order_by(audit_log.c.seq)):
            for claim in parse_claims(detail, sealed):
                self._add(claim, int(seq), tables)
        for spans in self.spans.values():
            spans.sort()

    def _add(self, claim: Claim, seq: int, tables: set[str]) -> None:
        if claim.table in tables:
            self.claims[claim.table][seq] = claim
            before = 0
            for lo, hi in claim.ids:
                self.spans[claim.table].append((lo, hi, before, seq))
                before += hi - lo + 1

    def groups(self, table: str, keys: Iterable[int]) -> dict[tuple[int, int], list[list[int]]]:
        """``(writer seq, group) -> the group's id ranges`` of the groups holding ``keys``."""
        spans = self.spans[table]
        firsts = [lo for lo, _, _, _ in spans]
        found: dict[tuple[int, int], list[list[int]]] = {}
        wanted = set()
        for key in keys:
            at = bisect_right(firsts, key) - 1
            if at < 0 or spans[at][1] < key:
                wanted.add(key)
                continue
            lo, _, before, seq = spans[at]
            group = (before + key - lo) // CHUNK
            if (seq, group) not in found:
                claim = self.claims[table][seq]
                first = group * CHUNK
                last = min(claim.rows, first + CHUNK) - 1
                found[(seq, group)] = _ranges(nth_id(claim.ids, n) for n in range(first, last + 1))
        if wanted:
            key = min(wanted)
            raise RowsTampered(
                f"{table} row {key}: written by no audit entry (inserted outside the ledger): "
                "not erased",
                table=table,
                row=key,
                seq=None,
            )
        return found

    def expected(self, table: str, writer: int, group: int, facts: ErasureFacts) -> str:
        """The hash the group must have now: its newest re-claim's, or its writer's."""
        reclaimed = facts.reclaims.get((table, writer, group))
        if reclaimed is not None:
            return reclaimed.hash
        claim = self.claims[table][writer]
        return claim.chunks[group] if claim.chunks else claim.root


class _Reclaimer:
    """Checks the groups of the rows an erasure will change (each read and encoded once,
    kept), then re-claims them with the changed rows read again."""

    def __init__(self, conn: Connection, touched: dict[str, set[int]]) -> None:
        self.conn = conn
        self.touched = touched
        archived = carried(conn)
        self.facts = erasure_facts(conn, archived=archived.erasures)
        self.writers = _Writers(conn, {t for t, keys in touched.items() if keys}, archived)
        self.groups: list[tuple[str, int, int, list[list[int]], dict[int, bytes]]] = []
        for table, keys in touched.items():
            if not keys:
                continue
            for (writer, group), ids in sorted(self.writers.groups(table, keys).items()):
                expected = self.writers.expected(table, writer, group, self.facts)
                rows = dict(_rows(conn, table, ids))
                if group_hash(rows.values()).hex() != expected:
                    raise RowsTampered(
                        f"{table} rows {ids[0][0]}–{ids[-1][1]}: changed outside the ledger "
                        f"since audit entry {writer} wrote them: not erased (verify the ledger)",
                        table=table,
                        row=ids[0][0],
                        seq=writer,
                    )
                self.groups.append((table, writer, group, ids, rows))

    def reclaims(self) -> list[Reclaim]:
        """The groups as they are now (only the rows the erasure touched read again)."""
        found = []
        for table, writer, group, ids, rows in self.groups:
            changed = [k for k in rows if k in self.touched[table]]
            for start in range(0, len(changed), 10_000):
                part = changed[start : start + 10_000]
                rows.update(_rows_where(self.conn, table, SEALED[table].key.in_(part)))
            encoded = [rows[k] for k in sorted(rows)]
            found.append(Reclaim(table, writer, group, ids, group_hash(encoded).hex()))
        return found


def _rows(conn: Connection, table: str, ids: list[list[int]]) -> list[tuple[int, bytes]]:
    key = SEALED[table].key
    return _rows_where(conn, table, or_(*(key.between(lo, hi) for lo, hi in ids)))


def _rows_where(conn: Connection, table: str, where: Any) -> list[tuple[int, bytes]]:
    return list(sealed_rows(conn, table, where))


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
        reclaimer = _Reclaimer(conn, touched)
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
                "tombstones": _ranges(wanted),
                "reclaims": [r.as_detail() for r in reclaims],
                "deleted": {t: sorted(k) for t, k in gone.items() if k},
                "redacted": _ranges(redacted),
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
        reclaimer = _Reclaimer(conn, {"records": ids})
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
                "redacted": _ranges(redacted),
            },
            rows=registered,
        )
        retired = Erased(entry.seq, RETIRED, {"records": len(ids)}, {}, len(redacted), 0)
        return retired, archived
