"""The ledger's audited reads: every read of a resident's data is an audit entry naming
the actor and the purpose, committed before anything read leaves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from osmanthus.core import Actor, ResidentInfo, StoredRecord
from osmanthus.errors import LedgerError, NotFound, ValidationError
from osmanthus.ledger.audit_log import AuditEntry, PendingEntry, append_entries
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.handle import LedgerBase, check_text
from osmanthus.ledger.reading import (
    profile_of,
    record_rows,
    resident_and_records,
    suspensions_of,
)
from osmanthus.ledger.schema import departments, records, residents

if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import Future

    from osmanthus.ledger.quick_read import RecordRows

__all__ = ["AuditedReads"]


class AuditedReads(LedgerBase):
    """Reads of residents' data, each audited."""

    def read_resident(
        self,
        national_id: str,
        *,
        actor: Actor,
        purpose: str,
        known_at: dt.datetime | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> tuple[ResidentInfo, list[StoredRecord]]:
        """A resident and every record row about them (as known at ``known_at``), audited
        (``detail``: more to say in the entry, such as the perk a provider asks about)."""
        return self.read_pseudonym(
            self.pseudonym_of(national_id),
            actor=actor,
            purpose=purpose,
            known_at=known_at,
            detail=detail,
        )

    def read_pseudonym(
        self,
        name: str,
        *,
        actor: Actor,
        purpose: str,
        known_at: dt.datetime | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> tuple[ResidentInfo, list[StoredRecord]]:
        """The same read for a resident known by pseudonym (a signed-in session), audited."""
        resident, rows, _ = self.read_entry(
            name, actor=actor, purpose=purpose, known_at=known_at, detail=detail
        )
        return resident, rows

    def read_entry(
        self,
        name: str,
        *,
        actor: Actor,
        purpose: str,
        known_at: dt.datetime | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> tuple[ResidentInfo, list[StoredRecord], AuditEntry]:
        """:meth:`read_pseudonym`, with the read's audit entry (its number names the read:
        a provider's check is told by it when the answer may have changed)."""
        if self._group_audit is None:  # the read and its entry in one transaction
            with database_errors("records"), self.engine.begin() as conn:
                resident, rows, pending = self._read(conn, name, actor, purpose, known_at, detail)
                (entry,) = append_entries(conn, [pending])
            return resident, rows, entry
        resident, rows, committed = self.read_pseudonym_deferred(
            name, actor=actor, purpose=purpose, known_at=known_at, detail=detail
        )
        entry = committed.result(timeout=60)  # committed before the caller sees the rows
        return resident, rows, entry

    def read_pseudonym_deferred(
        self,
        name: str,
        *,
        actor: Actor,
        purpose: str,
        known_at: dt.datetime | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> tuple[ResidentInfo, list[StoredRecord], Future[AuditEntry]]:
        """The read, with its audit entry handed to the group writer: the caller must wait
        for the future (its entry committed) before anything read leaves. Needs
        :meth:`start_service`."""
        if self._group_audit is None:
            raise LedgerError("read_pseudonym_deferred needs start_service() first")
        with read_only(self.engine) as conn:
            resident, rows, entry = self._read(conn, name, actor, purpose, known_at, detail)
        return resident, rows, self._group_audit.submit(entry)

    def read_on_loop(
        self,
        name: str,
        *,
        actor: Actor,
        purpose: str,
        detail: Mapping[str, Any] | None = None,
    ) -> tuple[ResidentInfo, RecordRows, asyncio.Future[AuditEntry]]:
        """The web service's hot read, called on its event loop (the only user of the
        kept connection): the resident and their current record ids, and the audit
        entry's future, to be awaited before anything read leaves. Needs
        :meth:`start_service`."""
        if self._group_audit is None or self._quick is None:
            raise LedgerError("read_on_loop needs start_service() first")
        _check_purpose(purpose)
        found = self._quick.resident_and_records(name)
        if found is None:
            raise NotFound(f"resident {name[:12]}… is not registered")
        resident, rows = found
        entry = _read_entry(name, actor, purpose, len(rows.ids), None, detail)
        return resident, rows, self._group_audit.submit_async(entry)

    def read_unregistered(
        self, *, actor: Actor, purpose: str, detail: Mapping[str, Any] | None = None
    ) -> AuditEntry:
        """Record a check of an ID number no resident holds, like a read that found no
        records (no subject, no pseudonym): a provider gets the answer of a resident who
        does not qualify, and the check is on record all the same."""
        pending = _unregistered_entry(actor, purpose, detail)
        if self._group_audit is None:
            with database_errors("audit"), self.engine.begin() as conn:
                (entry,) = append_entries(conn, [pending])
            return entry
        return self._group_audit.submit(pending).result(timeout=60)

    def read_unregistered_on_loop(
        self, *, actor: Actor, purpose: str, detail: Mapping[str, Any] | None = None
    ) -> asyncio.Future[AuditEntry]:
        """:meth:`read_unregistered` on the event loop (needs :meth:`start_service`)."""
        if self._group_audit is None:
            raise LedgerError("read_unregistered_on_loop needs start_service() first")
        return self._group_audit.submit_async(_unregistered_entry(actor, purpose, detail))

    def _read(
        self,
        conn: Connection,
        name: str,
        actor: Actor,
        purpose: str,
        known_at: dt.datetime | None,
        detail: Mapping[str, Any] | None = None,
    ) -> tuple[ResidentInfo, list[StoredRecord], PendingEntry]:
        _check_purpose(purpose)
        if known_at is None:  # one statement for the resident and their records
            found = resident_and_records(conn, name)
            if found is None:
                raise NotFound(f"resident {name[:12]}… is not registered")
            resident, rows = found
        else:
            resident = self._resident(conn, name, known_at)
            rows = record_rows(conn, resident.id, known_at)
        if self._needs_profile:
            resident = replace(resident, profile=profile_of(conn, resident.id, known_at))
        resident = replace(resident, suspensions=suspensions_of(conn, resident.id))
        return resident, rows, _read_entry(name, actor, purpose, len(rows), known_at, detail)

    def record_access(
        self,
        *,
        actor: Actor,
        action: str,
        purpose: str,
        subject: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Write an access that read nothing from the ledger (a proof checked, a report
        verified) to the audit chain; committed before this returns."""
        check_text("purpose", purpose, 256)
        entry = PendingEntry(str(actor), action, purpose, subject, detail)
        if self._group_audit is not None:
            self._group_audit.append(entry)
            return
        with database_errors("audit"), self.engine.begin() as conn:
            append_entries(conn, [entry])

    def counts(self) -> dict[str, int]:
        """Row counts of the ledger's tables (no personal data)."""
        with read_only(self.engine) as conn:
            return {
                "residents": conn.execute(select(func.count()).select_from(residents)).scalar_one(),
                "departments": conn.execute(
                    select(func.count()).select_from(departments)
                ).scalar_one(),
                "records": conn.execute(select(func.count()).select_from(records)).scalar_one(),
            }


def _unregistered_entry(
    actor: Actor, purpose: str, detail: Mapping[str, Any] | None
) -> PendingEntry:
    _check_purpose(purpose)
    return PendingEntry(
        actor=str(actor),
        action="resident.read",
        subject=None,
        purpose=purpose,
        detail={"records": 0, "known_at": None, "registered": False, **(detail or {})},
    )


def _read_entry(
    name: str,
    actor: Actor,
    purpose: str,
    records: int,
    known_at: dt.datetime | None,
    detail: Mapping[str, Any] | None = None,
) -> PendingEntry:
    """The audit entry of a read of one resident's records."""
    return PendingEntry(
        actor=str(actor),
        action="resident.read",
        subject=name,
        purpose=purpose,
        detail={
            "records": records,
            "known_at": known_at.isoformat() if known_at else None,
            **(detail or {}),
        },
    )


def _check_purpose(purpose: str) -> None:
    if not purpose.strip():
        raise ValidationError("purpose: every read of personal data must state a purpose")
    check_text("purpose", purpose, 256)
