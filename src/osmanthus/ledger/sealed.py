"""Which ledger tables the audit chain vouches for, and how each row is read for it.

Every row of a sealed table was written by an audit entry that carries a claim of it
(:mod:`osmanthus.audit.rows`: its id and the Merkle root of its canonical encoding). The
columns below are the sealed order of each table; a reference to a resident is written
as the resident's pseudonym and a reference to a department as its code, so a row's
encoding means the same on every database it is copied to.

- **Append-only** tables (``records``, ``residents``, ...): each row is claimed once,
  by the entry that wrote it; the database refuses UPDATE and DELETE on them
  (migration 0008).
- **Current-state** tables (``api_keys``, ``resident_credentials``, ``disputes``): a row
  may be written again (a key revoked, a password replaced); each write's entry claims
  the row as it now is, and the newest claim of a row must match it.
- Not sealed: ``record_counts``, ``audit_subjects`` and ``audit_indexed`` are derived
  from sealed rows (counts and an index), ``notice_deliveries`` and ``notice_cursors``
  are the e-mail outbox's working state (each notice itself is sealed), and
  ``audit_log`` is the chain itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Select, Table, select
from sqlalchemy.sql import FromClause

from osmanthus.audit import Claim, ClaimBuilder, encode_row
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.schema import (
    api_keys,
    audit_log,
    batch_problems,
    batches,
    departments,
    dispute_events,
    disputes,
    issued_proofs,
    notices,
    policy_decisions,
    policy_proposals,
    profile_facts,
    proof_revocations,
    records,
    resident_contacts,
    resident_credentials,
    residents,
    suspensions,
)

__all__ = [
    "SEALED",
    "Sealed",
    "claim_current_rows",
    "claim_of",
    "claim_rows",
    "seal_existing",
    "sealed_rows",
]


@dataclass(frozen=True)
class Sealed:
    """A sealed table: its key column and the select of its sealed columns."""

    table: Table
    key: Column[Any]
    columns: tuple[ColumnElement[Any], ...]
    source: FromClause
    append_only: bool = True

    @property
    def name(self) -> str:
        return self.table.name

    def query(self) -> Select[Any]:
        """The sealed columns of every row (the key first), in key order."""
        return select(*self.columns).select_from(self.source).order_by(self.key)


_pseudonym = residents.c.pseudonym.label("resident")
_code = departments.c.code.label("department")


def _with_resident(table: Table) -> FromClause:
    return table.outerjoin(residents, residents.c.id == table.c.resident_id)


def _with_department(source: FromClause, table: Table) -> FromClause:
    return source.outerjoin(departments, departments.c.id == table.c.department_id)


SEALED: dict[str, Sealed] = {
    s.name: s
    for s in (
        Sealed(
            departments,
            departments.c.id,
            (
                departments.c.id,
                departments.c.code,
                departments.c.name,
                departments.c.name_zh,
                departments.c.registered_at,
            ),
            departments,
        ),
        Sealed(
            residents,
            residents.c.id,
            (
                residents.c.id,
                residents.c.pseudonym,
                residents.c.district,
                residents.c.birth_year,
                residents.c.registered_at,
            ),
            residents,
        ),
        Sealed(
            records,
            records.c.id,
            (
                records.c.id,
                _pseudonym,
                _code,
                records.c.metric,
                records.c.value,
                records.c.act_date,
                records.c.decision_date,
                records.c.recorded_at,
                records.c.source_ref,
                records.c.incident_ref,
                records.c.kind,
                records.c.supersedes_id,
                records.c.reason,
                records.c.batch_id,
                records.c.severity,
            ),
            _with_department(_with_resident(records), records),
        ),
        Sealed(
            profile_facts,
            profile_facts.c.id,
            (
                profile_facts.c.id,
                _pseudonym,
                profile_facts.c.attribute,
                profile_facts.c.value,
                _code,
                profile_facts.c.source_ref,
                profile_facts.c.recorded_at,
            ),
            _with_department(_with_resident(profile_facts), profile_facts),
        ),
        Sealed(
            batches,
            batches.c.id,
            (
                batches.c.id,
                _code,
                batches.c.batch_id,
                batches.c.file_name,
                batches.c.file_sha256,
                batches.c.format,
                batches.c.partial,
                batches.c.status,
                batches.c.rows,
                batches.c.accepted,
                batches.c.refused,
                batches.c.flagged,
                batches.c.metrics,
                batches.c.actor,
                batches.c.received_at,
                batches.c.finished_at,
            ),
            _with_department(batches, batches),
        ),
        Sealed(
            batch_problems,
            batch_problems.c.id,
            tuple(batch_problems.c),
            batch_problems,
        ),
        Sealed(
            policy_proposals,
            policy_proposals.c.id,
            tuple(policy_proposals.c),
            policy_proposals,
        ),
        Sealed(
            policy_decisions,
            policy_decisions.c.id,
            tuple(policy_decisions.c),
            policy_decisions,
        ),
        Sealed(
            dispute_events,
            dispute_events.c.id,
            tuple(dispute_events.c),
            dispute_events,
        ),
        Sealed(
            suspensions,
            suspensions.c.id,
            (
                suspensions.c.id,
                suspensions.c.record_id,
                _pseudonym,
                suspensions.c.dispute_id,
                suspensions.c.starts,
                suspensions.c.lifted,
                suspensions.c.recorded_at,
            ),
            _with_resident(suspensions),
        ),
        Sealed(
            notices,
            notices.c.id,
            (
                notices.c.id,
                _pseudonym,
                notices.c.kind,
                notices.c.key,
                notices.c.payload,
                notices.c.created_at,
                notices.c.not_before,
            ),
            _with_resident(notices),
        ),
        Sealed(
            issued_proofs,
            issued_proofs.c.id,
            (
                issued_proofs.c.id,
                issued_proofs.c.salt,
                _pseudonym,
                issued_proofs.c.perk,
                issued_proofs.c.issued_at,
                issued_proofs.c.valid_until,
            ),
            _with_resident(issued_proofs),
        ),
        Sealed(
            proof_revocations,
            proof_revocations.c.id,
            tuple(proof_revocations.c),
            proof_revocations,
        ),
        Sealed(
            resident_contacts,
            resident_contacts.c.resident_id,
            (
                resident_contacts.c.resident_id,
                _pseudonym,
                resident_contacts.c.email,
                resident_contacts.c.language,
                resident_contacts.c.updated_at,
            ),
            _with_resident(resident_contacts),
            append_only=False,
        ),
        Sealed(
            api_keys,
            api_keys.c.id,
            tuple(api_keys.c),
            api_keys,
            append_only=False,
        ),
        Sealed(
            resident_credentials,
            resident_credentials.c.resident_id,
            (
                resident_credentials.c.resident_id,
                _pseudonym,
                resident_credentials.c.password_hash,
                resident_credentials.c.created_at,
            ),
            _with_resident(resident_credentials),
            append_only=False,
        ),
        Sealed(
            disputes,
            disputes.c.id,
            (
                disputes.c.id,
                disputes.c.record_id,
                _pseudonym,
                _code,
                disputes.c.reason,
                disputes.c.status,
                disputes.c.filed_at,
                disputes.c.deadline,
                disputes.c.kind,
                disputes.c.evidence_ref,
                disputes.c.profile_fact_id,
            ),
            _with_department(_with_resident(disputes), disputes),
            append_only=False,
        ),
    )
}


def sealed_rows(
    conn: Connection, name: str, where: ColumnElement[bool] | None = None, *, batch: int = 20_000
) -> Iterator[tuple[int, bytes]]:
    """``(key, canonical bytes)`` of the table's rows (those matching ``where``), in key
    order, read in batches of ``batch`` rows."""
    sealed = SEALED[name]
    after: int | None = None
    while True:
        query = sealed.query().limit(batch)
        if where is not None:
            query = query.where(where)
        if after is not None:
            query = query.where(sealed.key > after)
        rows = conn.execute(query).all()
        for row in rows:
            yield int(row[0]), encode_row(name, row)
        if len(rows) < batch:
            return
        after = int(rows[-1][0])


def claim_rows(name: str, rows: Sequence[tuple[int, bytes]]) -> Claim:
    """The claim of already-encoded rows (in ascending key order)."""
    builder = ClaimBuilder(name)
    for key, encoded in rows:
        builder.add(key, encoded)
    return builder.claim()


def claim_of(conn: Connection, name: str, where: ColumnElement[bool]) -> Claim:
    """The claim of the rows of ``name`` matching ``where``, read back as stored (inside
    the writing transaction, after the write)."""
    return claim_rows(name, list(sealed_rows(conn, name, where)))


def seal_existing(conn: Connection, tables: Sequence[str] | None = None) -> int:
    """Claim every row of every sealed table (or of ``tables``: those a migration knows)
    in ``ledger.seal`` entries (a ledger written before rows were sealed): the append-only
    tables in one entry, each row of a current-state table in one of its own; return the
    rows sealed. Nothing when empty, or when an entry already claims rows (a sealed ledger
    migrated down and up again)."""
    claimed = conn.execute(
        select(audit_log.c.seq).where(audit_log.c.detail.like('%"sealed":{%')).limit(1)
    ).first()
    if claimed is not None:
        return 0
    claims, single = [], []
    for name, sealed in SEALED.items():
        if tables is not None and name not in tables:
            continue
        builder = ClaimBuilder(name)
        for key, encoded in sealed_rows(conn, name):
            if sealed.append_only:
                builder.add(key, encoded)
            else:  # a current-state row is checked against its newest claim: one each
                single.append(claim_rows(name, [(key, encoded)]))
        if builder.count:
            claims.append(builder.claim())
    for group in [claims] if claims else []:
        _seal_entry(conn, group)
    for claim in single:
        _seal_entry(conn, [claim])
    return sum(c.rows for c in claims) + len(single)


def claim_current_rows(conn: Connection, name: str, purpose: str) -> int:
    """Claim every row of a current-state table as it is now, one ``ledger.seal`` entry
    each (a migration that adds sealed columns to it); return the rows claimed."""
    assert not SEALED[name].append_only
    rows = list(sealed_rows(conn, name))
    for key, encoded in rows:
        _seal_entry(conn, [claim_rows(name, [(key, encoded)])], purpose)
    return len(rows)


def _seal_entry(
    conn: Connection,
    claims: list[Claim],
    purpose: str = "rows written before the chain carried row digests",
) -> None:
    append_entry(
        conn,
        actor="operator:migration",
        action="ledger.seal",
        purpose=purpose,
        detail={"rows_sealed": sum(c.rows for c in claims)},
        rows=claims,
    )
