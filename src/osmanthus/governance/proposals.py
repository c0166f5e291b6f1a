"""Proposals: a policy bundle stored in the ledger with its validation and impact report.

``propose`` reads a policy directory as a :class:`Bundle`, runs the validation pass (the
charter, the guardrails, the authors' tests, and the no-backdating rule as of today) and,
when it passes, the impact report (:mod:`osmanthus.population.impact`) against the
approved policy, then stores all of it as one proposal row, audited with the bundle's
content hash. Nothing it proposes is scored with until it is approved
(:mod:`osmanthus.governance.decisions`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osmanthus.core import Actor
from osmanthus.errors import PolicyError
from osmanthus.governance.bundle import Bundle
from osmanthus.ledger import Ledger
from osmanthus.ledger.policy_store import DecisionRow, ProposalRow, insert_proposal
from osmanthus.policy import PolicySet, PolicyVersion, load_policy

__all__ = ["Proposal", "backdating", "propose", "validate"]


@dataclass(frozen=True)
class Proposal:
    """A stored proposal and where it stands."""

    id: int
    policy: str
    content_hash: str
    base_hash: str | None
    bundle: Bundle
    proposed_by: str
    proposed_at: dt.datetime
    validation: dict[str, Any]
    impact: dict[str, Any] | None
    status: str  # open, approved, rejected, or invalid (its validation failed)
    approvals: tuple[str, ...]
    required: int  # approvers needed: 2 when the charter or its registry changes
    decided_at: dt.datetime | None
    reason: str | None  # a rejection's

    @classmethod
    def of(
        cls, row: ProposalRow, bundle: Bundle, decisions: list[DecisionRow], base: Bundle | None
    ) -> Proposal:
        """``row`` (whose ``bundle`` the caller has read) with its decisions."""
        required = 2 if base is None or bundle.governing() != base.governing() else 1
        approvals: list[str] = []
        validation = json.loads(row.validation)
        status = "open" if validation.get("ok") else "invalid"
        decided_at, reason = None, None
        for decision in decisions:
            if status != "open":
                break
            if decision.decision == "reject":
                status, decided_at, reason = "rejected", decision.decided_at, decision.reason
            elif decision.decided_by not in approvals:
                approvals.append(decision.decided_by)
                if len(approvals) >= required:
                    status, decided_at = "approved", decision.decided_at
        return cls(
            row.id,
            row.policy,
            row.content_hash,
            row.base_hash,
            bundle,
            row.proposed_by,
            row.proposed_at,
            validation,
            json.loads(row.impact) if row.impact else None,
            status,
            tuple(approvals),
            required,
            decided_at,
            reason,
        )


def backdating(
    proposed: PolicySet,
    bundle: Bundle,
    base: tuple[PolicySet, Bundle] | None,
    *,
    on: dt.date,
    first_policy_of_empty_ledger: bool,
) -> str | None:
    """Why approving ``proposed`` on ``on`` would change a rule retroactively, or None.

    Every version that is new or changed against the approved ``base`` must take effect
    no earlier than ``on`` plus the charter's notice period (the longer of the approved
    charter's and the proposed one's); no version already in force may be removed. The
    act-date rule then guarantees that no act is scored by a rule approved after it.
    Only the very first policy of a ledger that holds no record may start in the past."""
    if first_policy_of_empty_ledger:
        return None
    notices = [proposed.charter.notice_days if proposed.charter else 0]
    if base is not None and base[0].charter is not None:
        notices.append(base[0].charter.notice_days)
    notice = max(notices)
    earliest = on + dt.timedelta(days=notice)
    for version in _changed(proposed, bundle, base):
        if version.effective < earliest:
            return (
                f"{version.source}: effective {version.effective} is earlier than the approval "
                f"date {on} plus the charter's notice of {notice} days ({earliest}): no "
                "backdating"
            )
    kept = {v.effective for v in proposed.versions}
    old = {v.effective for v in base[0].versions} if base is not None else set()
    for effective in sorted(old - kept):
        if effective < earliest:
            return (
                f"the version effective {effective} is or will soon be in force: it may not "
                "be removed"
            )
    return None


def validate(
    bundle: Bundle,
    base: tuple[PolicySet, Bundle] | None,
    *,
    on: dt.date,
    first_policy_of_empty_ledger: bool,
) -> tuple[dict[str, Any], PolicySet | None]:
    """The validation pass: the bundle loads (charter and guardrails), its authors' tests
    pass (at least one), it is the approved policy's successor, and it backdates
    nothing as of ``on``. Returns the stored result and the loaded policy."""
    from osmanthus.scoring import run_cases

    result: dict[str, Any] = {"ok": False, "checked_on": on.isoformat(), "error": None}
    try:
        with bundle.materialised() as folder:
            policy = load_policy(folder)
            results = run_cases(folder, policy)
    except PolicyError as exc:
        result["error"] = str(exc)
        return result, None
    result["versions"] = [
        {"file": v.source, "version": v.version, "effective": v.effective.isoformat()}
        for v in policy.versions
    ]
    failed = [f"{r.case.source} {r.case.name}: {r.problems[0]}" for r in results if not r.passed]
    result["tests"] = {"cases": len(results), "failed": failed}
    problems = [
        f"policy {policy.latest.name!r} is not the approved policy {base[0].latest.name!r}"
        if base is not None and base[0].latest.name != policy.latest.name
        else None,
        backdating(
            policy, bundle, base, on=on, first_policy_of_empty_ledger=first_policy_of_empty_ledger
        ),
        "the policy has no authors' tests (tests/*.toml)" if not results else None,
        f"{len(failed)} authors' test(s) failed; the first: {failed[0]}" if failed else None,
    ]
    result["error"] = next((problem for problem in problems if problem), None)
    result["ok"] = result["error"] is None
    return result, policy


def propose(
    ledger: Ledger,
    folder: Path,
    *,
    actor: Actor,
    population_dir: Path,
    engine: str = "duckdb",
    **options: Any,
) -> Proposal:
    """Store the policy directory ``folder`` as a proposal, validated and, when valid,
    with its impact report; return it."""
    from osmanthus.governance.decisions import approved, empty_ledger, proposal  # a cycle
    from osmanthus.population.impact import impact_report

    bundle = Bundle.from_folder(folder)
    current = approved(ledger.engine)
    base = (current.bundle.load(), current.bundle) if current is not None else None
    today = ledger.today()
    validation, policy = validate(
        bundle,
        base,
        on=today,
        first_policy_of_empty_ledger=current is None and empty_ledger(ledger),
    )
    impact = None
    if validation["ok"] and policy is not None:
        as_of = max(today, _first_change(policy, bundle, base) or today)
        impact = impact_report(
            ledger,
            base[0] if base else None,
            policy,
            as_of=as_of,
            population_dir=population_dir,
            actor=actor,
            engine=engine,
            **options,
        )
    name = policy.latest.name if policy is not None else folder.name
    proposal_id = insert_proposal(
        ledger.engine,
        policy=name[:64],
        content_hash=bundle.content_hash,
        base_hash=current.content_hash if current is not None else None,
        bundle=bundle.canonical(),
        validation=json.dumps(validation, sort_keys=True),
        impact=json.dumps(impact, sort_keys=True, default=str) if impact is not None else None,
        actor=actor,
        at=ledger.now(),
    )
    return proposal(ledger.engine, proposal_id)


def _changed(
    policy: PolicySet, bundle: Bundle, base: tuple[PolicySet, Bundle] | None
) -> list[PolicyVersion]:
    """The versions of ``policy`` that are new or changed against the approved ``base``
    (a version is the same when the base has one of the same effective date and text)."""
    old = {v.effective: base[1].files[v.source] for v in base[0].versions} if base else {}
    return [v for v in policy.versions if old.get(v.effective) != bundle.files[v.source]]


def _first_change(
    policy: PolicySet, bundle: Bundle, base: tuple[PolicySet, Bundle] | None
) -> dt.date | None:
    """The effective date of the earliest new or changed version (the date the impact
    report scores on)."""
    changed = [v.effective for v in _changed(policy, bundle, base)]
    return min(changed) if changed else None
