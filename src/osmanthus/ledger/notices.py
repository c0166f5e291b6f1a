"""Notices in the ledger: what a resident is told, their contact address, and the e-mail
outbox.

A notice is written in the same transaction as the event it tells of (a dispute's step,
or the relay's reading of new records), with an outbox row when the resident gave an
address: a crash after the commit loses no notice, and the delivery worker finds every
row it still has to send. A notice's ``key`` names its event, so an event noticed twice
(two workers, a retried relay) is one notice.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    SmallInteger,
    String,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from osmanthus.audit import Claim, ClaimBuilder
from osmanthus.core import Actor, ResidentInfo, StoredRecord
from osmanthus.errors import NotFound, ValidationError
from osmanthus.ledger.audit_log import append_entry, ledger_identity
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.reading import profile_of, record_rows, suspensions_of
from osmanthus.ledger.schema import (
    UtcDateTime,
    notice_cursors,
    notice_deliveries,
    notices,
    records,
    resident_contacts,
    residents,
)
from osmanthus.ledger.sealed import claim_of, sealed_rows
from osmanthus.ledger.settling import settle

__all__ = [
    "Contact",
    "Delivery",
    "NewNotice",
    "Notice",
    "add_notices",
    "commit_relay",
    "contact_of",
    "cursor_of",
    "deliveries_of",
    "delivery_backlog",
    "due_deliveries",
    "mark_delivery",
    "new_originals",
    "notices_of",
    "relay_start",
    "residents_now",
    "set_contact",
    "set_cursor",
    "settled_record_id",
    "write_notices",
]

LANGUAGES = ("zh", "en")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CHUNK = 500


@dataclass(frozen=True)
class NewNotice:
    """A notice to write: to whom (resident id), what kind, its event's key, the facts."""

    resident_id: int
    kind: str
    key: str
    payload: Mapping[str, Any]
    not_before: dt.date | None = None


@dataclass(frozen=True)
class Notice:
    """A notice as kept: the facts of what happened; texts are rendered on reading."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    created_at: dt.datetime
    not_before: dt.date | None
    resident: str = ""  # the pseudonym


@dataclass(frozen=True)
class Contact:
    """Where a resident wants notices by e-mail, and in which language."""

    email: str
    language: str
    updated_at: dt.datetime


@dataclass(frozen=True)
class Delivery:
    """One outbox row: a notice to send to an address."""

    notice: Notice
    address: str
    language: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None


def add_notices(conn: Connection, found: Sequence[NewNotice], now: dt.datetime) -> list[Claim]:
    """Write the notices whose key is new (inside the caller's transaction), and an outbox
    row for each whose resident gave an address; return the claim of the notices written
    for the caller's audit entry (none when every key was known)."""
    keys = [n.key for n in found]
    known: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        known.update(conn.execute(select(notices.c.key).where(notices.c.key.in_(chunk))).scalars())
    fresh = list({n.key: n for n in found if n.key not in known}.values())
    if not fresh:
        return []
    conn.execute(
        insert(notices),
        [
            {
                "resident_id": n.resident_id,
                "kind": n.kind,
                "key": n.key,
                "payload": json.dumps(n.payload, sort_keys=True, default=str),
                "created_at": now,
                "not_before": n.not_before,
            }
            for n in fresh
        ],
    )
    builder = ClaimBuilder("notices")
    for start in range(0, len(fresh), _CHUNK):
        chunk = [n.key for n in fresh[start : start + _CHUNK]]
        written = notices.c.key.in_(chunk)
        for key, encoded in sealed_rows(conn, "notices", written):
            builder.add(key, encoded)
        conn.execute(
            insert(notice_deliveries).from_select(
                [
                    "notice_id",
                    "address",
                    "language",
                    "status",
                    "attempts",
                    "next_attempt_at",
                ],
                select(
                    notices.c.id,
                    resident_contacts.c.email,
                    resident_contacts.c.language,
                    literal("pending", String(16)),
                    literal(0, SmallInteger),
                    literal(now, UtcDateTime()),
                )
                .join(resident_contacts, resident_contacts.c.resident_id == notices.c.resident_id)
                .where(written, resident_contacts.c.email != ""),
            )
        )
    return [builder.claim()]


def _notice(row: Any) -> Notice:
    return Notice(
        id=row.id,
        kind=row.kind,
        key=row.key,
        payload=json.loads(row.payload),
        created_at=row.created_at,
        not_before=row.not_before,
        resident=row.pseudonym,
    )


_NOTICE = select(
    notices.c.id,
    notices.c.kind,
    notices.c.key,
    notices.c.payload,
    notices.c.created_at,
    notices.c.not_before,
    residents.c.pseudonym,
).join(residents, residents.c.id == notices.c.resident_id)


def notices_of(engine: Engine, pseudonym: str, today: dt.date) -> list[Notice]:
    """A resident's notices due by ``today``, newest first. An expiry notice of a record
    replaced since (retracted or corrected) is left out: that record no longer expires."""
    replaced = select(records.c.supersedes_id).where(records.c.supersedes_id.is_not(None))
    with database_errors("notices"), read_only(engine) as conn:
        rows = conn.execute(
            _NOTICE.where(
                residents.c.pseudonym == pseudonym,
                or_(notices.c.not_before.is_(None), notices.c.not_before <= today),
            ).order_by(notices.c.id.desc())
        ).all()
        found = [_notice(row) for row in rows]
        ids = [n.payload["record"] for n in found if n.kind == "record.expired"]
        gone = set()
        if ids:
            gone = set(conn.execute(replaced.where(records.c.supersedes_id.in_(ids))).scalars())
    return [n for n in found if not (n.kind == "record.expired" and n.payload["record"] in gone)]


def contact_of(engine: Engine, pseudonym: str) -> Contact | None:
    """The resident's notice address, if any."""
    with database_errors("notices"), read_only(engine) as conn:
        row = conn.execute(
            select(
                resident_contacts.c.email,
                resident_contacts.c.language,
                resident_contacts.c.updated_at,
            )
            .join(residents, residents.c.id == resident_contacts.c.resident_id)
            .where(residents.c.pseudonym == pseudonym)
        ).first()
    return None if row is None or not row.email else Contact(**row._mapping)


def set_contact(
    engine: Engine,
    pseudonym: str,
    email: str,
    language: str,
    *,
    actor: Actor,
    now: dt.datetime,
) -> None:
    """Set (or, with an empty ``email``, remove) the resident's notice address; audited.
    Notices already written keep the address they were queued for."""
    email = email.strip()
    if email and (
        len(email) > 254 or "@" not in email.strip("@") or any(c.isspace() for c in email)
    ):
        raise ValidationError(f"email: expected an e-mail address, found {email[:60]!r}")
    if language not in LANGUAGES:
        raise ValidationError(
            f"language: expected one of {', '.join(LANGUAGES)}, found {language!r}"
        )
    with database_errors("notices"), engine.begin() as conn:
        resident_id = conn.execute(
            select(residents.c.id).where(residents.c.pseudonym == pseudonym)
        ).scalar()
        if resident_id is None:
            raise NotFound(f"resident {pseudonym[:12]}… is not registered")
        values = {"email": email, "language": language, "updated_at": now}
        changed = conn.execute(
            update(resident_contacts)
            .where(resident_contacts.c.resident_id == resident_id)
            .values(**values)
        ).rowcount
        if not changed:
            conn.execute(insert(resident_contacts).values(resident_id=resident_id, **values))
        append_entry(
            conn,
            actor=str(actor),
            action="contact.set" if email else "contact.removed",
            subject=pseudonym,
            purpose="resident sets where notices go",
            rows=[
                claim_of(conn, "resident_contacts", resident_contacts.c.resident_id == resident_id)
            ],
        )


_DELIVERY = select(
    *_NOTICE.selected_columns,
    notice_deliveries.c.address,
    notice_deliveries.c.language,
    notice_deliveries.c.status,
    notice_deliveries.c.attempts,
    notice_deliveries.c.next_attempt_at,
    notice_deliveries.c.sent_at,
    notice_deliveries.c.last_error,
).select_from(
    notice_deliveries.join(notices, notices.c.id == notice_deliveries.c.notice_id).join(
        residents, residents.c.id == notices.c.resident_id
    )
)


def _delivery(row: Any) -> Delivery:
    return Delivery(
        notice=_notice(row),
        address=row.address,
        language=row.language,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


def due_deliveries(
    engine: Engine, now: dt.datetime, today: dt.date, *, limit: int = 100
) -> list[Delivery]:
    """Outbox rows to send now: pending, their next attempt due, their notice due."""
    with database_errors("notices"), read_only(engine) as conn:
        rows = conn.execute(
            _DELIVERY.where(
                notice_deliveries.c.status == "pending",
                notice_deliveries.c.next_attempt_at <= now,
                or_(notices.c.not_before.is_(None), notices.c.not_before <= today),
            )
            .order_by(notice_deliveries.c.notice_id)
            .limit(limit)
        ).all()
    return [_delivery(row) for row in rows]


def deliveries_of(engine: Engine, pseudonym: str | None = None) -> list[Delivery]:
    """Every outbox row (of one resident), oldest first."""
    query = _DELIVERY.order_by(notice_deliveries.c.notice_id)
    if pseudonym is not None:
        query = query.where(residents.c.pseudonym == pseudonym)
    with database_errors("notices"), read_only(engine) as conn:
        return [_delivery(row) for row in conn.execute(query)]


def mark_delivery(
    engine: Engine,
    delivery: Delivery,
    status: str,
    *,
    now: dt.datetime,
    next_attempt_at: dt.datetime | None = None,
    error: str | None = None,
    actor: Actor,
) -> bool:
    """Record the outcome of one attempt: ``sent`` (audited: an address received the
    resident's notice), ``pending`` again (a retry at ``next_attempt_at``), ``failed``
    or ``withdrawn``. Only a row still pending is changed; return whether it was."""
    values: dict[str, Any] = {"status": status, "last_error": (error or "")[:256] or None}
    if status == "sent":
        values["sent_at"] = now
    if status in ("pending", "failed"):
        values["attempts"] = delivery.attempts + 1
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    with database_errors("notices"), engine.begin() as conn:
        changed = conn.execute(
            update(notice_deliveries)
            .where(
                notice_deliveries.c.notice_id == delivery.notice.id,
                notice_deliveries.c.status == "pending",
            )
            .values(**values)
        ).rowcount
        if changed and status in ("sent", "failed", "withdrawn"):
            append_entry(
                conn,
                actor=str(actor),
                action=f"notice.{status}",
                subject=delivery.notice.resident,
                purpose="notice by e-mail",
                detail={"notice": delivery.notice.id, "kind": delivery.notice.kind, "error": error}
                if error
                else {"notice": delivery.notice.id, "kind": delivery.notice.kind},
            )
    return bool(changed)


def cursor_of(conn: Connection, name: str) -> int:
    """How far the relay named ``name`` has read (0 at first)."""
    found = conn.execute(
        select(notice_cursors.c.upto).where(notice_cursors.c.name == name)
    ).scalar()
    return int(found or 0)


def set_cursor(conn: Connection, name: str, upto: int) -> None:
    """Move the relay's cursor (inside the transaction that wrote what it read)."""
    changed = conn.execute(
        update(notice_cursors).where(notice_cursors.c.name == name).values(upto=upto)
    ).rowcount
    if not changed:
        conn.execute(insert(notice_cursors).values(name=name, upto=upto))


# -- the relay: notices of what arrives in bulk (new records), read after the commit --


def settled_record_id(engine: Engine) -> int:
    """The highest record id below which every record is committed for good (the same
    gate as the lake export's)."""
    with database_errors("notices"), engine.begin() as conn:
        settle(conn)
        return int(conn.execute(select(func.coalesce(func.max(records.c.id), 0))).scalar_one())


def relay_start(engine: Engine, name: str) -> int:
    """Where the relay named ``name`` goes on from."""
    with database_errors("notices"), read_only(engine) as conn:
        return cursor_of(conn, name)


def new_originals(engine: Engine, after: int, upto: int) -> dict[int, list[int]]:
    """Original records with ``after < id <= upto``: record ids by resident id."""
    found: dict[int, list[int]] = {}
    with database_errors("notices"), read_only(engine) as conn:
        rows = conn.execute(
            select(records.c.resident_id, records.c.id)
            .where(records.c.id > after, records.c.id <= upto, records.c.kind == "original")
            .order_by(records.c.id)
        )
        for resident_id, record_id in rows:
            found.setdefault(resident_id, []).append(record_id)
    return found


def residents_now(
    engine: Engine, resident_ids: Sequence[int]
) -> dict[int, tuple[ResidentInfo, list[StoredRecord]]]:
    """Residents and all their record rows as stored now (a read the caller audits, with
    what it writes: see :func:`commit_relay`)."""
    found = {}
    with database_errors("notices"), read_only(engine) as conn:
        for resident_id in resident_ids:
            row = conn.execute(
                select(
                    residents.c.id,
                    residents.c.pseudonym,
                    residents.c.district,
                    residents.c.birth_year,
                ).where(residents.c.id == resident_id)
            ).one()
            info = ResidentInfo(
                row.id,
                row.pseudonym,
                row.district,
                row.birth_year,
                profile_of(conn, resident_id, None),
                suspensions_of(conn, resident_id),
            )
            found[resident_id] = (info, record_rows(conn, resident_id, None))
    return found


def commit_relay(
    engine: Engine,
    name: str,
    after: int,
    upto: int,
    found: Sequence[NewNotice],
    *,
    actor: Actor,
    now: dt.datetime,
    purpose: str,
    detail: Mapping[str, Any],
) -> bool:
    """Write the notices a relay made from the rows in ``(after, upto]`` and move its
    cursor to ``upto``, in one transaction with one audit entry; False (nothing written)
    when another relay moved the cursor meanwhile."""
    with database_errors("notices"), engine.begin() as conn:
        conn.execute(
            update(notice_cursors)
            .where(notice_cursors.c.name == name)
            .values(upto=notice_cursors.c.upto)  # lock the cursor's row
        )
        if cursor_of(conn, name) != after:
            return False
        claims = add_notices(conn, found, now)
        set_cursor(conn, name, upto)
        append_entry(
            conn,
            actor=str(actor),
            action="notice.relay",
            purpose=purpose,
            detail={"relay": name, "after": after, "upto": upto, **detail},
            rows=claims,
        )
    return True


def write_notices(
    engine: Engine,
    found: Sequence[NewNotice],
    *,
    actor: Actor,
    now: dt.datetime,
    purpose: str,
    detail: Mapping[str, Any],
) -> int:
    """Write notices made from what happened outside the ledger (a population run), with
    their outbox rows, in one transaction with one audit entry; return how many were new
    (a key already written is skipped)."""
    with database_errors("notices"), engine.begin() as conn:
        claims = add_notices(conn, found, now)
        written = sum(c.rows for c in claims)
        append_entry(
            conn,
            actor=str(actor),
            action="notice.write",
            purpose=purpose,
            detail={**detail, "notices": written},
            rows=claims,
        )
    return written


def replaced_records(engine: Engine, record_ids: Sequence[int]) -> set[int]:
    """Which of these records were retracted or corrected since."""
    if not record_ids:
        return set()
    with database_errors("notices"), read_only(engine) as conn:
        return set(
            conn.execute(
                select(records.c.supersedes_id).where(records.c.supersedes_id.in_(record_ids))
            ).scalars()
        )


def ledger_tag(engine: Engine) -> str:
    """A short name of this ledger (its first audit entry's hash), for Message-IDs."""
    with database_errors("notices"), read_only(engine) as conn:
        return ledger_identity(conn)[:16]


def delivery_backlog(engine: Engine, now: dt.datetime) -> int:
    """Outbox rows due and not yet sent (for the metrics: growing, the worker stopped)."""
    with database_errors("notices"), read_only(engine) as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(notice_deliveries)
                .where(
                    notice_deliveries.c.status == "pending",
                    notice_deliveries.c.next_attempt_at <= now,
                )
            ).scalar_one()
        )
