"""Decisions on proposals, and the approved policy the service and the CLI score with.

A proposal is approved by staff holding the ``policy-approver`` role other than its
proposer: one approver, or two when it changes the charter or its registry of legal
instruments (the first policy of a ledger always brings both). Approval is refused for
a proposal whose validation failed, that has no impact report, that is stale (another
bundle was approved since it was checked), or that would backdate a rule as of the
approval date. A rejection needs a reason. Each decision is an audited ledger row.

The approved policy is the bundle of the proposal approved last; when it is approved,
its departments are registered.
"""

from __future__ import annotations

from sqlalchemy import Engine

from osmanthus.core import Actor
from osmanthus.errors import AccessDenied, ConfigError, NotFound, ValidationError
from osmanthus.governance.bundle import Bundle
from osmanthus.governance.proposals import Proposal, backdating
from osmanthus.ledger import Ledger
from osmanthus.ledger.policy_store import decision_rows, insert_decision, proposal_rows
from osmanthus.policy import PolicySet

__all__ = [
    "APPROVER",
    "approve",
    "approved",
    "approved_policy",
    "empty_ledger",
    "history",
    "policy_in_force",
    "proposal",
    "reject",
]

#: The role that may approve or reject a proposal.
APPROVER = "policy-approver"


def history(engine: Engine) -> list[Proposal]:
    """Every proposal with where it stands, oldest first. Each is judged against the
    approved bundle it was checked against (``base_hash``)."""
    rows = proposal_rows(engine)
    decisions = decision_rows(engine)
    bundles = {row.content_hash: Bundle.from_json(row.bundle) for row in rows}  # each once
    found = []
    for row in rows:
        mine = [d for d in decisions if d.proposal_id == row.id]
        base = bundles.get(row.base_hash) if row.base_hash else None
        found.append(Proposal.of(row, bundles[row.content_hash], mine, base))
    return found


def proposal(engine: Engine, proposal_id: int) -> Proposal:
    """One proposal; :class:`NotFound` when there is none with that id."""
    for found in history(engine):
        if found.id == proposal_id:
            return found
    raise NotFound(f"no policy proposal {proposal_id}")


def approved(engine: Engine) -> Proposal | None:
    """The proposal approved last (the policy in force), or None."""
    done = [p for p in history(engine) if p.status == "approved" and p.decided_at is not None]
    return max(done, key=lambda p: (p.decided_at, p.id)) if done else None


def approved_policy(engine: Engine) -> PolicySet | None:
    """The approved policy, loaded from the ledger, or None before the first approval."""
    current = approved(engine)
    return current.bundle.load() if current is not None else None


def policy_in_force(engine: Engine) -> PolicySet:
    """The approved policy; :class:`ConfigError` before the first approval (nothing may
    score with a policy folder's files)."""
    found = approved_policy(engine)
    if found is None:
        raise ConfigError(
            "the ledger has no approved policy yet: propose one (osmanthus policy propose DIR) "
            "and have it approved (osmanthus policy approve ID)"
        )
    return found


def empty_ledger(ledger: Ledger) -> bool:
    return ledger.counts()["records"] == 0


def approve(ledger: Ledger, proposal_id: int, *, actor: Actor, role: str) -> Proposal:
    """Approve ``proposal_id`` as ``actor`` (holding ``role``); return where it stands.
    The checks run again once no other decision can land (two approvals at the same
    moment are judged one after the other)."""
    _require_approver(role)
    _approvable(ledger, proposal_id, actor)  # refuse early, before taking the lock
    judged: dict[str, object] = {}

    def check() -> dict[str, object]:
        found, policy = _approvable(ledger, proposal_id, actor)
        judged.update(policy=policy, completes=len(found.approvals) + 1 >= found.required)
        return {
            "policy": found.policy,
            "content_hash": found.content_hash,
            "approvals": len(found.approvals) + 1,
            "required": found.required,
        }

    insert_decision(
        ledger.engine,
        proposal_id=proposal_id,
        decision="approve",
        reason=None,
        actor=actor,
        at=ledger.now(),
        check=check,
    )
    if judged["completes"]:
        _register(ledger, judged["policy"], actor)  # type: ignore[arg-type]
    return proposal(ledger.engine, proposal_id)


def _approvable(ledger: Ledger, proposal_id: int, actor: Actor) -> tuple[Proposal, PolicySet]:
    """The proposal and its policy, when ``actor`` may approve it now."""
    found = proposal(ledger.engine, proposal_id)
    if not found.validation.get("ok"):
        raise ValidationError(
            f"proposal {found.id}: its validation failed ({found.validation.get('error')}); "
            "fix the policy and propose it again"
        )
    _require_open(found)
    if str(actor) == found.proposed_by:
        raise AccessDenied(f"proposal {found.id}: its proposer may not approve it")
    if str(actor) in found.approvals:
        raise AccessDenied(
            f"proposal {found.id}: already approved by {actor}; a second approver is needed"
        )
    if found.impact is None:
        raise ValidationError(f"proposal {found.id}: it has no impact report")
    current = approved(ledger.engine)
    if (current.content_hash if current else None) != found.base_hash:
        raise ValidationError(
            f"proposal {found.id}: stale: another policy was approved after it was validated "
            "(its impact report compares with rules no longer in force); propose it again"
        )
    policy = found.bundle.load()
    base = (current.bundle.load(), current.bundle) if current is not None else None
    why = backdating(
        policy,
        found.bundle,
        base,
        on=ledger.today(),
        first_policy_of_empty_ledger=current is None and empty_ledger(ledger),
    )
    if why:
        raise ValidationError(f"proposal {found.id}: {why}")
    return found, policy


def reject(ledger: Ledger, proposal_id: int, *, actor: Actor, role: str, reason: str) -> Proposal:
    """Reject ``proposal_id`` with ``reason`` (shown in the history)."""
    _require_approver(role)
    if not reason.strip() or len(reason) > 2000:
        raise ValidationError("reason: a rejection gives a reason of 1 to 2000 characters")

    def check() -> dict[str, object]:
        found = proposal(ledger.engine, proposal_id)
        _require_open(found)
        return {"policy": found.policy, "content_hash": found.content_hash}

    check()
    insert_decision(
        ledger.engine,
        proposal_id=proposal_id,
        decision="reject",
        reason=reason,
        actor=actor,
        at=ledger.now(),
        check=check,
    )
    return proposal(ledger.engine, proposal_id)


def _register(ledger: Ledger, policy: PolicySet, actor: Actor) -> None:
    """Register the approved policy's departments (the ledger keeps the policy it scores
    with until it is opened again)."""
    ledger.sync_departments(actor, policy)


def _require_approver(role: str) -> None:
    if role != APPROVER:
        raise AccessDenied(f"role {role!r} may not decide on a policy (allowed: {APPROVER})")


def _require_open(found: Proposal) -> None:
    if found.status == "invalid":
        raise ValidationError(
            f"proposal {found.id} failed its validation: there is nothing to decide"
        )
    if found.status != "open":
        when = f" on {found.decided_at:%Y-%m-%d}" if found.decided_at else ""
        raise ValidationError(f"proposal {found.id} was already {found.status}{when}")
