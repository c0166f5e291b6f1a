"""Policy proposals and the decisions on them: the ledger's door for governance.

A proposal row holds a whole policy bundle (its files as canonical JSON) with the hash
of that content, the hash of the approved bundle it was checked against, and the
validation and impact report computed when it was proposed. A decision row approves or
rejects one proposal. Both tables are append-only and every row is claimed by the audit
entry that wrote it (``policy.propose``, ``policy.approve``, ``policy.reject``), which
also carries the content hash. The rules (who may approve, when a proposal is stale or
backdated) live in :mod:`osmanthus.governance`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, text

from osmanthus.core import Actor
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.schema import policy_decisions, policy_proposals
from osmanthus.ledger.sealed import claim_of

__all__ = [
    "DecisionRow",
    "ProposalRow",
    "decision_rows",
    "insert_decision",
    "insert_proposal",
    "proposal_rows",
]


#: Arbitrary constant naming the governance decisions' advisory lock (PostgreSQL).
_GOVERNANCE = 0x05A4_90F1
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


@dataclass(frozen=True)
class ProposalRow:
    id: int
    policy: str
    content_hash: str
    base_hash: str | None
    bundle: str
    proposed_by: str
    proposed_at: dt.datetime
    validation: str
    impact: str | None


@dataclass(frozen=True)
class DecisionRow:
    id: int
    proposal_id: int
    decision: str
    decided_by: str
    decided_at: dt.datetime
    reason: str | None


def insert_proposal(
    engine: Engine,
    *,
    policy: str,
    content_hash: str,
    base_hash: str | None,
    bundle: str,
    validation: str,
    impact: str | None,
    actor: Actor,
    at: dt.datetime,
) -> int:
    """Store a proposal; return its id. Audited as ``policy.propose``."""
    with database_errors("policy proposals"), engine.begin() as conn:
        proposal_id = conn.execute(
            insert(policy_proposals)
            .values(
                policy=policy,
                content_hash=content_hash,
                base_hash=base_hash,
                bundle=bundle,
                proposed_by=str(actor),
                proposed_at=at,
                validation=validation,
                impact=impact,
            )
            .returning(policy_proposals.c.id)
        ).scalar_one()
        append_entry(
            conn,
            actor=str(actor),
            action="policy.propose",
            purpose="policy governance",
            detail={
                "proposal": int(proposal_id),
                "policy": policy,
                "content_hash": content_hash,
                "base_hash": base_hash,
            },
            rows=[claim_of(conn, "policy_proposals", policy_proposals.c.id == proposal_id)],
        )
    return int(proposal_id)


def insert_decision(
    engine: Engine,
    *,
    proposal_id: int,
    decision: str,
    reason: str | None,
    actor: Actor,
    at: dt.datetime,
    check: Callable[[], dict[str, object]],
) -> int:
    """Store an approval or rejection of proposal ``proposal_id``; return its id. Audited
    as ``policy.approve`` or ``policy.reject`` with what ``check`` returns (the policy,
    its content hash, ...). ``check`` runs once no other decision can be written (SQLite:
    the write lock of this transaction; PostgreSQL: the governance lock), so that two
    approvals at the same moment are judged one after the other."""
    with database_errors("policy decisions"), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(_LOCK, {"key": _GOVERNANCE})
        detail = check()
        decision_id = conn.execute(
            insert(policy_decisions)
            .values(
                proposal_id=proposal_id,
                decision=decision,
                decided_by=str(actor),
                decided_at=at,
                reason=reason,
            )
            .returning(policy_decisions.c.id)
        ).scalar_one()
        append_entry(
            conn,
            actor=str(actor),
            action=f"policy.{decision}",
            purpose="policy governance",
            detail={"proposal": proposal_id, **detail},
            rows=[claim_of(conn, "policy_decisions", policy_decisions.c.id == decision_id)],
        )
    return int(decision_id)


def proposal_rows(engine: Engine, *, proposal_id: int | None = None) -> list[ProposalRow]:
    """Every proposal (or the one with ``proposal_id``), oldest first."""
    query = select(policy_proposals).order_by(policy_proposals.c.id)
    if proposal_id is not None:
        query = query.where(policy_proposals.c.id == proposal_id)
    with database_errors("policy proposals"), read_only(engine) as conn:
        return [ProposalRow(**row._mapping) for row in conn.execute(query)]


def decision_rows(engine: Engine) -> list[DecisionRow]:
    """Every decision, oldest first."""
    query = select(policy_decisions).order_by(policy_decisions.c.id)
    with database_errors("policy decisions"), read_only(engine) as conn:
        return [DecisionRow(**row._mapping) for row in conn.execute(query)]
