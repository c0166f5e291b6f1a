"""The ledger: the system of record, and its one validated write path.

Every write checks the input against the policy (metric known, department allowed to
report it, value in range, dates possible) before anything is written, and lands in one
transaction together with its audit entry. Every read of a resident's data is an audit
entry too, naming the actor and the purpose. Rows are never updated or deleted: a
correction or retraction is a new row pointing at the one it replaces.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlalchemy import Connection, Engine, bindparam, func, insert, select

from osmanthus.core import Actor, NewRecord, ResidentInfo, StoredRecord
from osmanthus.errors import LedgerError, NotFound, RecordRefused, ValidationError
from osmanthus.identity import pseudonym, pseudonym_column, pseudonyms, validate
from osmanthus.ledger.audit_log import AuditEntry, PendingEntry, append_entries, append_entry
from osmanthus.ledger.database import connect, database_errors, is_current, read_only
from osmanthus.ledger.group_audit import GroupAudit
from osmanthus.ledger.quick_read import QuickReader, RecordRows
from osmanthus.ledger.reading import profile_of, record_rows, resident_and_records
from osmanthus.ledger.schema import departments, profile_facts, records, residents
from osmanthus.ledger.sealed import claim_of
from osmanthus.ledger.settling import enter_write
from osmanthus.ledger.upkeep import Upkeep
from osmanthus.policy import PolicySet, load_policy
from osmanthus.settings import Settings

__all__ = ["Ledger"]

_RESIDENT = select(residents).where(residents.c.pseudonym == bindparam("pseudonym"))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Ledger:
    """Validated reads and writes of residents, departments and records."""

    def __init__(
        self,
        engine: Engine,
        policy: PolicySet,
        key: bytes,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        timezone: dt.tzinfo = dt.UTC,
    ) -> None:
        self.engine = engine
        self.policy = policy
        self._key = key
        self._clock = clock
        self._timezone = timezone
        self._group_audit: GroupAudit | None = None
        self._quick: QuickReader | None = None
        self._upkeep: Upkeep | None = None
        # Profile facts are held only where a rule needs them; skip the read otherwise.
        self._needs_profile = any(version.profile for version in policy.versions)

    @classmethod
    def from_settings(cls, settings: Settings) -> Ledger:
        """Open the ledger that ``settings`` describe, with its policy."""
        return cls(
            connect(settings.resolved_database_url),
            load_policy(settings.policy_dir),
            settings.key_bytes,
            timezone=ZoneInfo(settings.timezone),
        )

    # -- set-up -----------------------------------------------------------------------

    def check_ready(self) -> None:
        """Raise :class:`LedgerError` unless the database is migrated to the newest schema."""
        if not is_current(self.engine):
            raise LedgerError(
                f"ledger at {self.engine.url.render_as_string(hide_password=True)} is not "
                "initialised or not up to date: run 'osmanthus init'"
            )

    def sync_departments(self, actor: Actor) -> int:
        """Register every department of the newest policy version not yet known; return how many."""
        version = self.policy.latest
        with database_errors("departments"), self.engine.begin() as conn:
            known = set(conn.execute(select(departments.c.code)).scalars())
            new = [
                {"code": code, "name": d.name, "name_zh": d.name_zh, "registered_at": self._clock()}
                for code, d in version.departments.items()
                if code not in known
            ]
            if new:
                conn.execute(insert(departments), new)
                codes = [d["code"] for d in new]
                append_entry(
                    conn,
                    actor=str(actor),
                    action="departments.register",
                    purpose="policy department list",
                    detail={"codes": codes, "policy": version.version},
                    rows=[claim_of(conn, "departments", departments.c.code.in_(codes))],
                )
        return len(new)

    def department_ids(self, conn: Connection) -> dict[str, int]:
        """Department code to row id."""
        return {
            row.code: row.id for row in conn.execute(select(departments.c.code, departments.c.id))
        }

    # -- residents --------------------------------------------------------------------

    def pseudonym_of(self, national_id: str) -> str:
        """Validate a national ID number and return its pseudonym."""
        return pseudonym(self._key, validate(national_id, today=self.today()))

    def pseudonyms_of_valid(self, numbers: list[str]) -> list[str]:
        """Pseudonyms of numbers already checked by :func:`osmanthus.identity.validate_many`."""
        return pseudonyms(self._key, numbers)

    def pseudonym_column(self, numbers: pa.ChunkedArray) -> pa.ChunkedArray:
        """Pseudonyms of a column of normalised numbers (vectorised; see identity)."""
        return pseudonym_column(self._key, numbers)

    def now(self) -> dt.datetime:
        """The current time by the ledger's clock (timezone-aware UTC)."""
        return self._clock()

    def today(self) -> dt.date:
        """The current date in the city's time zone, by the ledger's clock."""
        return self._clock().astimezone(self._timezone).date()

    def register_resident(self, national_id: str, district: str, *, actor: Actor) -> int:
        """Register a resident; return the row id. The number is hashed, never stored."""
        number = validate(national_id, today=self.today())
        if not district or len(district) > 32:
            raise ValidationError(f"district: expected 1 to 32 characters, found {district!r}")
        name = pseudonym(self._key, number)
        with database_errors("residents"), self.engine.begin() as conn:
            enter_write(conn)
            if conn.execute(select(residents.c.id).where(residents.c.pseudonym == name)).first():
                raise RecordRefused(f"resident {name[:12]}… is already registered")
            resident_id = conn.execute(
                insert(residents)
                .values(
                    pseudonym=name,
                    district=district,
                    birth_year=int(number[6:10]),
                    registered_at=self._clock(),
                )
                .returning(residents.c.id)
            ).scalar_one()
            append_entry(
                conn,
                actor=str(actor),
                action="resident.register",
                subject=name,
                purpose="registration",
                detail={"district": district},
                rows=[claim_of(conn, "residents", residents.c.id == resident_id)],
            )
        return int(resident_id)

    def record_profile(
        self,
        national_id: str,
        attribute: str,
        value: dt.date,
        *,
        department: str,
        source_ref: str,
        actor: Actor,
    ) -> int:
        """Record a dated profile fact a rule needs; the policy must declare the attribute
        and let ``department`` report it. Profile facts never score."""
        name = self.pseudonym_of(national_id)
        declared = self.policy.latest.profile.get(attribute)
        if declared is None:
            raise RecordRefused(
                f"profile attribute {attribute!r} is not declared by policy "
                f"{self.policy.latest.name}: profile data is held only where a rule needs it"
            )
        if department not in declared.reported_by:
            raise RecordRefused(
                f"department {department!r} may not report profile attribute {attribute!r}"
            )
        if value > self.today():
            raise ValidationError(f"{attribute}: {value} is in the future")
        with database_errors("profile"), self.engine.begin() as conn:
            enter_write(conn)
            resident = self._resident(conn, name)
            fact_id = conn.execute(
                insert(profile_facts)
                .values(
                    resident_id=resident.id,
                    attribute=attribute,
                    value=value,
                    department_id=self._department_id(conn, department),
                    source_ref=source_ref,
                    recorded_at=self._clock(),
                )
                .returning(profile_facts.c.id)
            ).scalar_one()
            append_entry(
                conn,
                actor=str(actor),
                action="profile.record",
                subject=name,
                purpose="profile data a rule needs",
                detail={"attribute": attribute, "fact": fact_id},
                rows=[claim_of(conn, "profile_facts", profile_facts.c.id == fact_id)],
            )
        return int(fact_id)

    def _resident(
        self, conn: Connection, name: str, known_at: dt.datetime | None = None
    ) -> ResidentInfo:
        row = conn.execute(_RESIDENT, {"pseudonym": name}).first()
        if row is None:
            raise NotFound(f"resident {name[:12]}… is not registered")
        if known_at is not None and row.registered_at > known_at:
            raise NotFound(f"resident {name[:12]}… was not yet registered at {known_at}")
        return ResidentInfo(row.id, row.pseudonym, row.district, row.birth_year)

    # -- records ----------------------------------------------------------------------

    def append_record(self, record: NewRecord, *, actor: Actor, batch_id: str | None = None) -> int:
        """Validate one record against the policy and the ledger, then append it."""
        name = self.pseudonym_of(record.national_id)
        self._check_dates(record.act_date, record.decision_date)
        version = self.policy.in_force(record.act_date)
        version.check_report(
            record.department, record.metric, record.value, record.act_date, record.severity
        )
        _check_text("source_ref", record.source_ref, 128)
        if record.incident_ref is not None:
            _check_text("incident_ref", record.incident_ref, 128)
        with database_errors("records"), self.engine.begin() as conn:
            resident = self._resident(conn, name)
            department_id = self._department_id(conn, record.department)
            record_id = self._insert_record(
                conn,
                resident_id=resident.id,
                department_id=department_id,
                metric=record.metric,
                value=float(record.value),
                act_date=record.act_date,
                decision_date=record.decision_date,
                source_ref=record.source_ref,
                incident_ref=record.incident_ref,
                kind="original",
                batch_id=batch_id,
                severity=record.severity,
            )
            append_entry(
                conn,
                actor=str(actor),
                action="record.append",
                subject=name,
                purpose="department report",
                detail={
                    "record": record_id,
                    "metric": record.metric,
                    "department": record.department,
                    "source_ref": record.source_ref,
                },
                rows=[claim_of(conn, "records", records.c.id == record_id)],
            )
        return int(record_id)

    def correct_record(
        self,
        department: str,
        source_ref: str,
        *,
        value: float,
        new_source_ref: str,
        reason: str,
        actor: Actor,
    ) -> int:
        """Append a correction with a new value; the original stays in the history."""
        return self._supersede(
            department,
            source_ref,
            kind="correction",
            value=value,
            new_source_ref=new_source_ref,
            reason=reason,
            actor=actor,
        )

    def retract_record(
        self, department: str, source_ref: str, *, new_source_ref: str, reason: str, actor: Actor
    ) -> int:
        """Append a retraction; the retracted record stays in the history but stops counting."""
        return self._supersede(
            department,
            source_ref,
            kind="retraction",
            value=None,
            new_source_ref=new_source_ref,
            reason=reason,
            actor=actor,
        )

    def _supersede(self, department: str, source_ref: str, **options: Any) -> int:
        """:meth:`supersede_within` in a transaction of its own."""
        with database_errors("records"), self.engine.begin() as conn:
            return self.supersede_within(conn, department, source_ref, **options)

    def supersede_within(
        self,
        conn: Connection,
        department: str,
        source_ref: str,
        *,
        kind: str,
        value: float | None,
        new_source_ref: str,
        reason: str,
        actor: Actor,
        subject: str | None = None,
        batch_id: str | None = None,
    ) -> int:
        """Append a correction or retraction inside the caller's transaction.

        With ``subject`` (a pseudonym), the record superseded must be about that resident.
        """
        if not reason.strip():
            raise ValidationError(f"{kind}: a reason is required")
        _check_text("new_source_ref", new_source_ref, 128)
        department_id = self._department_id(conn, department)
        old = conn.execute(
            select(records).where(
                records.c.department_id == department_id, records.c.source_ref == source_ref
            )
        ).first()
        if old is None:
            raise NotFound(f"department {department!r} has no record {source_ref!r}")
        if conn.execute(select(records.c.id).where(records.c.supersedes_id == old.id)).first():
            raise RecordRefused(
                f"record {source_ref!r} was already corrected or retracted: "
                "supersede its newest version"
            )
        if old.kind == "retraction":
            raise RecordRefused(f"record {source_ref!r} is a retraction and cannot be superseded")
        owner = conn.execute(
            select(residents.c.pseudonym).where(residents.c.id == old.resident_id)
        ).scalar_one()
        if subject is not None and subject != owner:
            raise RecordRefused(f"record {source_ref!r} is about another resident")
        new_value = old.value if value is None else value
        rule = self.policy.in_force(old.act_date)
        if kind == "correction":
            rule.check_report(department, old.metric, new_value, severity=old.severity)
        new_id = self._insert_record(
            conn,
            resident_id=old.resident_id,
            department_id=department_id,
            metric=old.metric,
            value=float(new_value),
            act_date=old.act_date,
            decision_date=old.decision_date,
            source_ref=new_source_ref,
            incident_ref=old.incident_ref,
            severity=old.severity,
            kind=kind,
            supersedes_id=old.id,
            reason=reason,
            batch_id=batch_id,
        )
        append_entry(
            conn,
            actor=str(actor),
            action=f"record.{kind}",
            subject=owner,
            purpose="department " + kind,
            detail={"record": new_id, "supersedes": old.id, "reason": reason},
            rows=[claim_of(conn, "records", records.c.id == new_id)],
        )
        return int(new_id)

    def _check_dates(self, act_date: dt.date, decision_date: dt.date) -> None:
        today = self.today()
        if act_date > today:
            raise ValidationError(f"act_date: {act_date} is in the future (today is {today})")
        if decision_date < act_date:
            raise ValidationError(
                f"decision_date: {decision_date} is before the act date {act_date}"
            )
        if decision_date > today:
            raise ValidationError(f"decision_date: {decision_date} is in the future")

    def _department_id(self, conn: Connection, code: str) -> int:
        found = conn.execute(select(departments.c.id).where(departments.c.code == code)).scalar()
        if found is None:
            raise RecordRefused(f"department {code!r} is not registered in the ledger")
        return int(found)

    def _insert_record(self, conn: Connection, **values: Any) -> int:
        """Insert one record row (its source reference checked free first); return its id."""
        enter_write(conn)
        taken = conn.execute(
            select(records.c.id).where(
                records.c.department_id == values["department_id"],
                records.c.source_ref == values["source_ref"],
            )
        ).first()
        if taken:
            raise RecordRefused(
                f"source_ref {values['source_ref']!r} is already used by this department"
            )
        statement = insert(records).values(**values, recorded_at=self._clock())
        return int(conn.execute(statement.returning(records.c.id)).scalar_one())

    # -- reads (each one audited) -----------------------------------------------------

    def read_resident(
        self, national_id: str, *, actor: Actor, purpose: str, known_at: dt.datetime | None = None
    ) -> tuple[ResidentInfo, list[StoredRecord]]:
        """A resident and every record row about them (as known at ``known_at``), audited."""
        return self.read_pseudonym(
            self.pseudonym_of(national_id), actor=actor, purpose=purpose, known_at=known_at
        )

    def read_pseudonym(
        self, name: str, *, actor: Actor, purpose: str, known_at: dt.datetime | None = None
    ) -> tuple[ResidentInfo, list[StoredRecord]]:
        """The same read for a resident known by pseudonym (a signed-in session), audited."""
        if self._group_audit is None:  # the read and its entry in one transaction
            with database_errors("records"), self.engine.begin() as conn:
                resident, rows, entry = self._read(conn, name, actor, purpose, known_at)
                append_entries(conn, [entry])
            return resident, rows
        resident, rows, committed = self.read_pseudonym_deferred(
            name, actor=actor, purpose=purpose, known_at=known_at
        )
        committed.result(timeout=60)  # committed before the caller sees the rows
        return resident, rows

    def read_pseudonym_deferred(
        self, name: str, *, actor: Actor, purpose: str, known_at: dt.datetime | None = None
    ) -> tuple[ResidentInfo, list[StoredRecord], Future[AuditEntry]]:
        """The read, with its audit entry handed to the group writer: the caller must wait
        for the future (its entry committed) before anything read leaves. Needs
        :meth:`start_service`."""
        if self._group_audit is None:
            raise LedgerError("read_pseudonym_deferred needs start_service() first")
        with read_only(self.engine) as conn:
            resident, rows, entry = self._read(conn, name, actor, purpose, known_at)
        return resident, rows, self._group_audit.submit(entry)

    def read_on_loop(
        self, name: str, *, actor: Actor, purpose: str
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
        entry = _read_entry(name, actor, purpose, len(rows.ids), None)
        return resident, rows, self._group_audit.submit_async(entry)

    def _read(
        self,
        conn: Connection,
        name: str,
        actor: Actor,
        purpose: str,
        known_at: dt.datetime | None,
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
        return resident, rows, _read_entry(name, actor, purpose, len(rows), known_at)

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
        _check_text("purpose", purpose, 256)
        entry = PendingEntry(str(actor), action, purpose, subject, detail)
        if self._group_audit is not None:
            self._group_audit.append(entry)
            return
        with database_errors("audit"), self.engine.begin() as conn:
            append_entries(conn, [entry])

    def start_service(self, *, upkeep_process: bool = False) -> None:
        """Serve many readers (the web service): read entries are committed in groups
        (each read still returns only after its entry is committed), the hot read runs on
        a kept connection (:mod:`osmanthus.ledger.quick_read`), and this process keeps the
        database (:mod:`osmanthus.ledger.upkeep`; on SQLite with ``upkeep_process``, in a
        process of its own) unless another one of the machine already does."""
        if self._group_audit is None:
            self._group_audit = GroupAudit(self.engine)
            self._quick = QuickReader(self.engine, with_profile=self._needs_profile)
            self._upkeep = Upkeep(self.engine, own_process=upkeep_process)
            self._upkeep.start()

    def stop_service(self) -> None:
        if self._upkeep is not None:
            self._upkeep.stop()
            self._upkeep = None
        if self._group_audit is not None:
            self._group_audit.close()
            self._group_audit = None
        if self._quick is not None:
            self._quick.close()
            self._quick = None

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


def _read_entry(
    name: str, actor: Actor, purpose: str, records: int, known_at: dt.datetime | None
) -> PendingEntry:
    """The audit entry of a read of one resident's records."""
    return PendingEntry(
        actor=str(actor),
        action="resident.read",
        subject=name,
        purpose=purpose,
        detail={"records": records, "known_at": known_at.isoformat() if known_at else None},
    )


def _check_purpose(purpose: str) -> None:
    if not purpose.strip():
        raise ValidationError("purpose: every read of personal data must state a purpose")
    _check_text("purpose", purpose, 256)


def _check_text(field: str, value: str, longest: int) -> None:
    """Refuse an empty, over-long or NUL-carrying text field, naming it."""
    if not value or len(value) > longest or "\x00" in value:
        raise ValidationError(
            f"{field}: expected 1 to {longest} characters without NUL, found {len(value)}"
        )
