"""The ledger's validated writes: departments, residents, profile facts and records.

Every write checks the input against the policy (metric known, department allowed to
report it, value in range, dates possible) before anything is written, and lands in one
transaction together with its audit entry, which seals the rows it wrote. Rows are never
updated or deleted: a correction or retraction is a new row pointing at the one it
replaces, and a granted early repair a new row pointing at the one it ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, insert, select

from osmanthus.core import REPLACING_KINDS, Actor, NewRecord
from osmanthus.errors import NotFound, ProhibitedData, RecordRefused, ValidationError
from osmanthus.identity import pseudonym, validate
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.database import database_errors
from osmanthus.ledger.handle import LedgerBase, check_text
from osmanthus.ledger.schema import departments, profile_facts, records, residents
from osmanthus.ledger.sealed import claim_of
from osmanthus.ledger.settling import enter_write
from osmanthus.policy import PolicySet
from osmanthus.policy.charter import prohibited_data, prohibited_refusal

__all__ = ["LedgerWrites"]


class LedgerWrites(LedgerBase):
    """Writes, each validated and audited."""

    def sync_departments(self, actor: Actor, policy: PolicySet | None = None) -> int:
        """Register every department of the newest version of ``policy`` (default: the
        ledger's) not yet known; return how many."""
        version = (policy or self.policy).latest
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
        self.refuse_prohibited(actor, "profile attribute", attribute)
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

    def append_record(self, record: NewRecord, *, actor: Actor, batch_id: str | None = None) -> int:
        """Validate one record against the charter, the policy and the ledger, then
        append it."""
        self.refuse_prohibited(actor, "metric", record.metric)
        name = self.pseudonym_of(record.national_id)
        self._check_dates(record.act_date, record.decision_date)
        version = self.policy.in_force(record.act_date)
        version.check_report(
            record.department, record.metric, record.value, record.act_date, record.severity
        )
        check_text("source_ref", record.source_ref, 128)
        if record.incident_ref is not None:
            check_text("incident_ref", record.incident_ref, 128)
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
        """:meth:`supersede_within` in a transaction of its own (the reason screened, and
        a refusal audited, before it begins)."""
        self.refuse_prohibited(options["actor"], "reason", options["reason"])
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
        in_dispute: bool = False,
    ) -> int:
        """Append a correction or retraction inside the caller's transaction.

        With ``subject`` (a pseudonym), the record superseded must be about that resident.
        A dispute awaiting a decision on the record is decided by it (upheld), unless the
        change is that dispute's own decision (``in_dispute``).
        """
        if not reason.strip():
            raise ValidationError(f"{kind}: a reason is required")
        # inside the caller's transaction: refused without an entry of its own (a second
        # transaction would wait for the write lock this one holds, on SQLite)
        self.refuse_prohibited(actor, "reason", reason, audited=False)
        check_text("new_source_ref", new_source_ref, 128)
        department_id = self._department_id(conn, department)
        old = conn.execute(
            select(records).where(
                records.c.department_id == department_id, records.c.source_ref == source_ref
            )
        ).first()
        if old is None:
            raise NotFound(f"department {department!r} has no record {source_ref!r}")
        if conn.execute(
            select(records.c.id).where(
                records.c.supersedes_id == old.id, records.c.kind.in_(REPLACING_KINDS)
            )
        ).first():
            raise RecordRefused(
                f"record {source_ref!r} was already corrected or retracted: "
                "supersede its newest version"
            )
        if old.kind in ("retraction", "repair"):
            raise RecordRefused(f"record {source_ref!r} is a {old.kind} and cannot be superseded")
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
        # loaded when a record is replaced, not by every command that opens the ledger
        from osmanthus.ledger.disputes import close_disputes_of
        from osmanthus.ledger.rechecks import after_change

        carried = self._carry_repair(conn, old, new_id, batch_id) if kind == "correction" else None
        if not in_dispute:
            close_disputes_of(
                conn, old.id, new_id, kind=kind, reason=reason, actor=actor, now=self._clock()
            )
        told = after_change(conn, owner, f"record {kind}", self._clock())
        written = [new_id] if carried is None else [new_id, carried]
        append_entry(
            conn,
            actor=str(actor),
            action=f"record.{kind}",
            subject=owner,
            purpose="department " + kind,
            detail={
                "record": new_id,
                "supersedes": old.id,
                "reason": reason,
                **({"repair_carried": carried} if carried is not None else {}),
            },
            rows=[claim_of(conn, "records", records.c.id.in_(written)), *told],
        )
        return int(new_id)

    def _carry_repair(
        self, conn: Connection, old: Any, new_id: int, batch_id: str | None
    ) -> int | None:
        """A correction of a repaired record is repaired on the same day: the repair row
        is written again for the correction (the repair decision stands)."""
        repair = conn.execute(
            select(records)
            .where(records.c.supersedes_id == old.id, records.c.kind == "repair")
            .order_by(records.c.act_date)
            .limit(1)
        ).first()
        if repair is None:
            return None
        return self._insert_record(
            conn,
            resident_id=old.resident_id,
            department_id=repair.department_id,
            metric=old.metric,
            value=0.0,
            act_date=repair.act_date,
            decision_date=repair.decision_date,
            source_ref=f"{repair.source_ref}/record-{new_id}"[:128],
            incident_ref=old.incident_ref,
            severity=old.severity,
            kind="repair",
            supersedes_id=new_id,
            reason=f"repair of record {old.id} carried to its correction: {repair.reason}"[:2000],
            batch_id=batch_id,
        )

    def correct_profile_within(
        self,
        conn: Connection,
        fact_id: int,
        value: dt.date,
        *,
        source_ref: str,
        actor: Actor,
    ) -> int:
        """Record a corrected profile fact inside the caller's transaction (an upheld
        profile dispute): a new fact of the same attribute, from the department that
        reported the old one, which the scorers take from now on (the old one stays in
        the history for ``--known-at``); audited with the rechecks it causes."""
        check_text("source_ref", source_ref, 128)
        old = conn.execute(select(profile_facts).where(profile_facts.c.id == fact_id)).first()
        if old is None:
            raise NotFound(f"profile fact {fact_id}: no such fact")
        if value > self.today():
            raise ValidationError(f"correct_date: {value} is in the future")
        if value == old.value:
            raise ValidationError(f"correct_date: {value} is the date already recorded")
        enter_write(conn)
        new_id = conn.execute(
            insert(profile_facts)
            .values(
                resident_id=old.resident_id,
                attribute=old.attribute,
                value=value,
                department_id=old.department_id,
                source_ref=source_ref,
                recorded_at=self._clock(),
            )
            .returning(profile_facts.c.id)
        ).scalar_one()
        owner = conn.execute(
            select(residents.c.pseudonym).where(residents.c.id == old.resident_id)
        ).scalar_one()
        from osmanthus.ledger.rechecks import after_change

        told = after_change(conn, owner, "profile corrected", self._clock())
        append_entry(
            conn,
            actor=str(actor),
            action="profile.correct",
            subject=owner,
            purpose="a profile fact corrected",
            detail={"attribute": old.attribute, "fact": int(new_id), "replaces": fact_id},
            rows=[claim_of(conn, "profile_facts", profile_facts.c.id == new_id), *told],
        )
        return int(new_id)

    def repair_within(
        self,
        conn: Connection,
        record_id: int,
        *,
        granted_on: dt.date,
        source_ref: str,
        reason: str,
        actor: Actor,
    ) -> int:
        """Append a repair of one record inside the caller's transaction (the decision on
        an application, :mod:`osmanthus.disputes.repairs`): the record ends on
        ``granted_on``; audited with the rechecks it causes."""
        check_text("source_ref", source_ref, 128)
        old = conn.execute(select(records).where(records.c.id == record_id)).first()
        if old is None:
            raise NotFound(f"record {record_id}: no such record")
        if old.kind not in ("original", "correction"):
            raise RecordRefused(f"record {record_id} is a {old.kind}: nothing to repair")
        new_id = self._insert_record(
            conn,
            resident_id=old.resident_id,
            department_id=old.department_id,
            metric=old.metric,
            value=0.0,
            act_date=granted_on,
            decision_date=granted_on,
            source_ref=source_ref,
            incident_ref=old.incident_ref,
            severity=old.severity,
            kind="repair",
            supersedes_id=old.id,
            reason=reason,
        )
        owner = conn.execute(
            select(residents.c.pseudonym).where(residents.c.id == old.resident_id)
        ).scalar_one()
        from osmanthus.ledger.rechecks import after_change

        told = after_change(conn, owner, "record repaired", self._clock())
        append_entry(
            conn,
            actor=str(actor),
            action="record.repair",
            subject=owner,
            purpose="early repair granted",
            detail={"record": new_id, "repairs": old.id, "granted_on": granted_on.isoformat()},
            rows=[claim_of(conn, "records", records.c.id == new_id), *told],
        )
        return int(new_id)

    def refuse_prohibited(
        self, actor: Actor, field: str, text: str, *, audited: bool = True
    ) -> None:
        """Refuse prohibited data (the charter's lexicon, the same function the loader
        and intake use) and write the refusal to the audit chain, without the text (not
        with ``audited=False``: a caller inside its own write transaction, which the
        refusal rolls back)."""
        found = prohibited_data(self.policy.charter, text)
        if found is None:
            return
        if not audited:
            raise ProhibitedData(
                prohibited_refusal(found, f"{field} {text!r}"), category=found.group
            )
        with database_errors("audit"), self.engine.begin() as conn:
            append_entry(
                conn,
                actor=str(actor),
                action="ledger.refused_prohibited",
                purpose="prohibited data refused at the ledger's door",
                detail={"group": found.group, "field": field},
            )
        raise ProhibitedData(prohibited_refusal(found, f"{field} {text!r}"), category=found.group)

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
