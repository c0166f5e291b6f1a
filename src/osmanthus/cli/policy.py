"""Commands for policy authors and approvers: check, test, propose, approve, reject,
history, show."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
import typer.core

from osmanthus.cli.base import (
    PolicyDir,
    cli_settings,
    domain_errors,
    err,
    open_ledger,
    out,
    policy_app,
)
from osmanthus.policy import load_policy, summarise


@policy_app.command("check")
@domain_errors
def policy_check(directory: PolicyDir) -> None:
    """Validate a policy and print every rule with its citation."""
    policies = load_policy(directory)
    for version in policies.versions:
        for line in summarise(version):
            out.print(line, markup=False, highlight=False)
        out.print()
    for warning in policies.lapsed(dt.date.today()):
        err.print(f"warning: {warning}", markup=False, highlight=False)
    out.print(f"policy {policies.latest.name}: {len(policies.versions)} version(s) valid")


@policy_app.command("test")
@domain_errors
def policy_test(directory: PolicyDir) -> None:
    """Run the authors' test cases in DIRECTORY/tests; exit 1 when any fails."""
    from osmanthus.scoring import run_cases

    policies = load_policy(directory)
    results = run_cases(directory, policies)
    for result in results:
        mark = "[green]pass[/green]" if result.passed else "[red]FAIL[/red]"
        out.print(f"{mark} {result.case.source} {result.case.name}", highlight=False)
        for problem in result.problems:
            out.print(f"     {problem}", markup=False, highlight=False)
    failed = sum(not r.passed for r in results)
    out.print(f"{len(results) - failed} passed, {failed} failed")
    if failed or not results:
        raise typer.Exit(1)


StaffKey = Annotated[
    str,
    typer.Option(
        "--key",
        envvar="OSMANTHUS_KEY",
        metavar="KEY",
        help="Your staff API key (or the environment variable OSMANTHUS_KEY): who proposes "
        "or decides is recorded in the audit chain.",
        show_default=False,
    ),
]
EngineChoice = Annotated[
    str, typer.Option("--engine", help="Population engine of the impact report: duckdb or spark.")
]


@policy_app.command("propose")
@domain_errors
def policy_propose(
    ctx: typer.Context, directory: PolicyDir, key: StaffKey, engine: EngineChoice = "duckdb"
) -> None:
    """Propose a policy directory: store it in the ledger (content-hashed), validate it
    (charter, guardrails, authors' tests, no backdating) and compute its impact report."""
    from osmanthus.governance import propose

    with open_ledger(ctx, policy=False) as ledger:
        caller = _staff(ledger, key, "operator", "policy-approver")
        settings = cli_settings(ctx)
        options = {"master": settings.spark_master} if engine == "spark" else {}
        found = propose(
            ledger,
            directory,
            actor=caller.identity,
            population_dir=settings.resolved_population_dir,
            engine=engine,
            **options,
        )
    print_proposal(found)
    if not found.validation["ok"]:
        raise typer.Exit(1)


@policy_app.command("approve")
@domain_errors
def policy_approve(
    ctx: typer.Context,
    proposal_id: Annotated[int, typer.Argument(metavar="ID", help="The proposal's number.")],
    key: StaffKey,
) -> None:
    """Approve a proposal (a policy-approver other than its proposer; two approvers when
    it changes the charter or its registry)."""
    from osmanthus.governance import approve

    with open_ledger(ctx, policy=False) as ledger:
        caller = _staff(ledger, key, "policy-approver")
        found = approve(ledger, proposal_id, actor=caller.identity, role=caller.role)
    print_proposal(found)


@policy_app.command("reject")
@domain_errors
def policy_reject(
    ctx: typer.Context,
    proposal_id: Annotated[int, typer.Argument(metavar="ID", help="The proposal's number.")],
    key: StaffKey,
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")],
) -> None:
    """Reject a proposal, with a reason."""
    from osmanthus.governance import reject

    with open_ledger(ctx, policy=False) as ledger:
        caller = _staff(ledger, key, "policy-approver")
        found = reject(ledger, proposal_id, actor=caller.identity, role=caller.role, reason=reason)
    print_proposal(found)


@policy_app.command("history")
@domain_errors
def policy_history(ctx: typer.Context) -> None:
    """Every proposal: its content hash, who proposed and decided, and where it stands."""
    from osmanthus.governance import approved, history

    with open_ledger(ctx, policy=False) as ledger:
        found = history(ledger.engine)
        current = approved(ledger.engine)
    if not found:
        out.print("no policy proposals yet")
    for item in found:
        mark = " (in force)" if current is not None and item.id == current.id else ""
        out.print(
            f"{item.id}  {item.status}{mark}  {item.policy}  {item.content_hash[:16]}…  "
            f"proposed {item.proposed_at:%Y-%m-%d %H:%M} by {item.proposed_by}",
            markup=False,
            highlight=False,
        )
        for approver in item.approvals:
            out.print(f"    approved by {approver}", markup=False, highlight=False)
        if item.reason:
            out.print(f"    rejected: {item.reason}", markup=False, highlight=False)


@policy_app.command("show")
@domain_errors
def policy_show(
    ctx: typer.Context,
    proposal_id: Annotated[int, typer.Argument(metavar="ID", help="The proposal's number.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole record as JSON.")
    ] = False,
) -> None:
    """A proposal's validation and impact report."""
    from osmanthus.governance import proposal

    with open_ledger(ctx, policy=False) as ledger:
        found = proposal(ledger.engine, proposal_id)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "id": found.id,
                    "policy": found.policy,
                    "content_hash": found.content_hash,
                    "status": found.status,
                    "proposed_by": found.proposed_by,
                    "approvals": list(found.approvals),
                    "required": found.required,
                    "validation": found.validation,
                    "impact": found.impact,
                },
                default=str,
            )
        )
        return
    print_proposal(found)


def print_proposal(found: Any) -> None:
    """A proposal in a few lines: status, validation, the impact report's headline."""
    need = f"{len(found.approvals)} of {found.required} approval(s)"
    out.print(
        f"proposal {found.id} of {found.policy}: {found.status} ({need}); content "
        f"{found.content_hash}",
        markup=False,
        highlight=False,
    )
    validation = found.validation
    if validation["ok"]:
        tests = validation["tests"]
        out.print(
            f"validation passed: charter, guardrails and {tests['cases']} authors' test(s)",
            highlight=False,
        )
    else:
        out.print(f"validation failed: {validation['error']}", markup=False, highlight=False)
    impact = found.impact
    if impact:

        def shown(n: Any) -> str:
            return "<10" if n is None else f"{n:,}"

        out.print(
            f"impact on {impact['as_of']} against {impact['compared_with']}: "
            f"{shown(impact['changed'])} of {shown(impact['residents'])} residents change "
            f"score; {shown(impact['up_across_baseline'])} rise to or above "
            f"{impact['baseline']}, {shown(impact['down_across_baseline'])} fall below it",
            markup=False,
            highlight=False,
        )
        for perk in impact["perks"]:
            out.print(
                f"  perk {perk['perk']}: {shown(perk['gain'])} gain, {shown(perk['lose'])} lose",
                markup=False,
                highlight=False,
            )
    if found.reason:
        out.print(f"rejected: {found.reason}", markup=False, highlight=False)


def _staff(ledger: Any, key: str, *roles: Any) -> Any:
    """The staff caller holding ``key``, with one of ``roles``."""
    from osmanthus.web.access import authenticate

    caller = authenticate(ledger.engine, key)
    caller.require(*roles)
    return caller


#: The demo city's policy author and its two approvers (keys are made on the spot).
DEMO_GOVERNANCE = (
    ("operator", "Policy author (demo)"),
    ("policy-approver", "Legal office (demo)"),
    ("policy-approver", "Credit office (demo)"),
)


def approve_demo_policy(ledger: Any, settings: Any) -> str:
    """Demo mode: put the configured policy folder through the approval path (a demo
    author proposes, two demo approvers approve) unless a policy is approved already;
    return a line saying what is in force. The demo city is public; a real city's
    approvers hold their own keys."""
    from osmanthus.governance import approve, approved, propose
    from osmanthus.web.access import authenticate, create_key

    current = approved(ledger.engine)
    if current is None:
        author, *approvers = [
            authenticate(ledger.engine, create_key(ledger.engine, role=role, name=name))
            for role, name in DEMO_GOVERNANCE
        ]
        found = propose(
            ledger,
            settings.policy_dir,
            actor=author.identity,
            population_dir=settings.resolved_population_dir,
        )
        if not found.validation["ok"]:
            from osmanthus.errors import PolicyError

            raise PolicyError(f"{settings.policy_dir}: {found.validation['error']}")
        for approver in approvers[: found.required]:
            approve(ledger, found.id, actor=approver.identity, role=approver.role)
        current = approved(ledger.engine)
        assert current is not None
    return (
        f"policy {current.policy} in force: proposal {current.id} "
        f"({current.content_hash[:16]}…), approved by {' and '.join(current.approvals)}"
    )
