"""Re-decisions after a change: when a resident's records are corrected, retracted, set
aside or counted again, the providers who checked the resident in the last six months
learn that their answer may have changed, and the resident's signed proofs still valid
are revoked.

Both happen in the transaction of the change (:func:`after_change`), so a change is never
committed without them. A provider reads its rechecks (the check's audit entry number
and the perk it asked about, never the score or the change itself); online verification
of a proof consults the revocations (the status list, :func:`revoked_proofs`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, insert, select

from osmanthus.audit import Claim
from osmanthus.core import Actor
from osmanthus.ledger.audit_log import append_entry, take_chain
from osmanthus.ledger.audit_subjects import entries_about
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.schema import (
    audit_log,
    issued_proofs,
    proof_revocations,
    rechecks,
    residents,
)
from osmanthus.ledger.sealed import claim_of

__all__ = [
    "RECHECK_WINDOW",
    "Recheck",
    "after_change",
    "proof_holder",
    "proof_revocation",
    "recheck_rows",
    "record_proof",
    "revoked_proofs",
]

#: How far back a provider's check is told of a change (six months).
RECHECK_WINDOW = dt.timedelta(days=183)


@dataclass(frozen=True)
class Recheck:
    """A provider's earlier check whose answer may have changed."""

    id: int
    check_id: int
    perk: str | None
    reason: str
    created_at: dt.datetime


def after_change(conn: Connection, pseudonym: str, reason: str, now: dt.datetime) -> list[Claim]:
    """Inside the transaction of a change about ``pseudonym``: a recheck for each provider
    check of the last six months (by the audit chain), and a revocation of each of the
    resident's proofs still valid; return the revocations' claim for the change's entry."""
    take_chain(conn)  # provider checks still waiting in the audit overflow count too
    since = (dt.datetime.now(dt.UTC) - RECHECK_WINDOW).isoformat(timespec="microseconds")
    about = entries_about(
        pseudonym,
        audit_log.c.seq,
        audit_log.c.actor,
        audit_log.c.detail,
        where=(
            audit_log.c.action == "resident.read",
            audit_log.c.actor.like("provider:%"),
            audit_log.c.at >= since,
        ),
    )
    checks = conn.execute(select(about).order_by(about.c.seq)).all()
    if checks:
        conn.execute(
            insert(rechecks),
            [
                {
                    "provider": actor,
                    "check_seq": seq,
                    "perk": json.loads(detail).get("perk"),
                    "reason": reason,
                    "created_at": now,
                }
                for seq, actor, detail in checks
            ],
        )
    resident_id = select(residents.c.id).where(residents.c.pseudonym == pseudonym)
    revoked = select(proof_revocations.c.proof_id)
    valid = (
        conn.execute(
            select(issued_proofs.c.id).where(
                issued_proofs.c.resident_id == resident_id.scalar_subquery(),
                issued_proofs.c.valid_until >= now.date(),
                issued_proofs.c.id.not_in(revoked),
            )
        )
        .scalars()
        .all()
    )
    if not valid:
        return []
    conn.execute(
        insert(proof_revocations),
        [{"proof_id": proof, "revoked_at": now, "reason": reason} for proof in valid],
    )
    return [claim_of(conn, "proof_revocations", proof_revocations.c.proof_id.in_(valid))]


def recheck_rows(
    engine: Engine, provider: Actor, after: int = 0, limit: int = 1000
) -> list[Recheck]:
    """The provider's rechecks after ``after`` (their ids), oldest first."""
    with database_errors("rechecks"), read_only(engine) as conn:
        rows = conn.execute(
            select(
                rechecks.c.id,
                rechecks.c.check_seq.label("check_id"),
                rechecks.c.perk,
                rechecks.c.reason,
                rechecks.c.created_at,
            )
            .where(rechecks.c.provider == str(provider), rechecks.c.id > after)
            .order_by(rechecks.c.id)
            .limit(limit)
        ).all()
    return [Recheck(**row._mapping) for row in rows]


def record_proof(
    engine: Engine,
    *,
    salt: str,
    pseudonym: str,
    perk: str,
    issued_at: dt.datetime,
    valid_until: dt.date,
    actor: Actor,
) -> None:
    """Keep an issued proof (named by its random salt), so that a later change of the
    resident's records can revoke it; audited."""
    with database_errors("proofs"), engine.begin() as conn:
        resident_id = select(residents.c.id).where(residents.c.pseudonym == pseudonym)
        proof_id = conn.execute(
            insert(issued_proofs)
            .values(
                salt=salt,
                resident_id=resident_id.scalar_subquery(),
                perk=perk,
                issued_at=issued_at,
                valid_until=valid_until,
            )
            .returning(issued_proofs.c.id)
        ).scalar_one()
        append_entry(
            conn,
            actor=str(actor),
            action="proof.issue",
            subject=pseudonym,
            purpose="eligibility proof issued to the resident",
            detail={"perk": perk, "valid_until": valid_until.isoformat()},
            rows=[claim_of(conn, "issued_proofs", issued_proofs.c.id == proof_id)],
        )


def proof_revocation(engine: Engine, salt: str) -> str | None:
    """Why the proof named ``salt`` was revoked, or None (not revoked, or not ours)."""
    with database_errors("proofs"), read_only(engine) as conn:
        return conn.execute(
            select(proof_revocations.c.reason)
            .join(issued_proofs, issued_proofs.c.id == proof_revocations.c.proof_id)
            .where(issued_proofs.c.salt == salt)
        ).scalar()


def revoked_proofs(engine: Engine, today: dt.date) -> list[str]:
    """The status list: salts of the revoked proofs that would still be valid today."""
    with database_errors("proofs"), read_only(engine) as conn:
        return list(
            conn.execute(
                select(issued_proofs.c.salt)
                .join(proof_revocations, proof_revocations.c.proof_id == issued_proofs.c.id)
                .where(issued_proofs.c.valid_until >= today)
                .order_by(issued_proofs.c.salt)
            ).scalars()
        )


def proof_holder(engine: Engine, salt: str) -> str | None:
    """The pseudonym of the resident the proof named ``salt`` was issued to (None: not
    one of ours), for an online check to decide from the ledger as it is today."""
    with database_errors("proofs"), read_only(engine) as conn:
        return conn.execute(
            select(residents.c.pseudonym)
            .join(issued_proofs, issued_proofs.c.resident_id == residents.c.id)
            .where(issued_proofs.c.salt == salt)
        ).scalar()
