"""``osmanthus repair ...``: early repair (credit restoration) from a terminal: a service
counter applies for a resident, the department that sent the record decides. An appeal
of a refusal and the reviewer's decision use ``osmanthus disputes appeal|review`` with
the application's number."""

from __future__ import annotations

from typing import Annotated

import typer

from osmanthus.cli.base import OPERATOR, IdArg, app, domain_errors, open_ledger
from osmanthus.cli.disputes import (
    DisputeId,
    ExtendDays,
    NewInformation,
    Reason,
    StaffKey,
    department_actor,
    print_dispute,
    print_rows,
)

repair_app = typer.Typer(
    help="Early repair of a negative record: apply, list, decide.", no_args_is_help=True
)
app.add_typer(repair_app, name="repair")

#: The states as the command line names them, and as the ledger keeps them.
STATES = {"open": "open", "granted": "upheld", "refused": "rejected", "appealed": "appealed"}


@repair_app.command("apply")
@domain_errors
def repair_apply(
    ctx: typer.Context,
    national_id: IdArg,
    record_id: Annotated[int, typer.Argument(help="The negative record (osmanthus explain).")],
    statement: Annotated[
        str, typer.Option(help="What the resident did to repair it (10 to 2000 characters).")
    ],
    evidence: Annotated[
        str | None, typer.Option(help="A reference to the evidence (a receipt, a certificate).")
    ] = None,
) -> None:
    """Apply for early repair on a resident's behalf. Refused at once (nothing written)
    before the policy's minimum period, with the day it becomes possible."""
    from osmanthus.disputes import apply_repair

    with open_ledger(ctx) as ledger:
        name = ledger.pseudonym_of(national_id)
        found = apply_repair(
            ledger, name, record_id, statement, evidence_ref=evidence, actor=OPERATOR
        )
    print_dispute(found)


@repair_app.command("list")
@domain_errors
def repair_list(
    ctx: typer.Context,
    department: Annotated[str | None, typer.Option(help="Only this department's.")] = None,
    state: Annotated[
        str | None, typer.Option(help="Only in this state: open, granted, refused, appealed.")
    ] = None,
) -> None:
    """Applications for repair, soonest deadline first (no resident data)."""
    from osmanthus.disputes import department_disputes

    if state is not None and state not in STATES:
        raise typer.BadParameter(f"--state: one of {', '.join(STATES)}, not {state!r}")
    with open_ledger(ctx) as ledger:
        today = ledger.today()
        wanted = (STATES[state],) if state else None
        found = department_disputes(ledger, department, wanted, kind="repair")
    print_rows(found, today, empty="no repair applications")


@repair_app.command("decide")
@domain_errors
def repair_decide(
    ctx: typer.Context,
    application: DisputeId,
    department: Annotated[str, typer.Option(help="The department deciding (its code).")],
    reason: Reason,
    grant: Annotated[bool, typer.Option("--grant", help="The record ends today.")] = False,
    refuse: Annotated[bool, typer.Option("--refuse", help="The record keeps counting.")] = False,
    extend: Annotated[bool, typer.Option("--extend", help="Extend the deadline.")] = False,
    days: ExtendDays = None,
    new_information: NewInformation = False,
    key: StaffKey = None,
) -> None:
    """The department's decision: --grant, --refuse or --extend. With --key, the key must
    be the department's own."""
    from osmanthus.disputes import answer_dispute
    from osmanthus.errors import NotFound
    from osmanthus.ledger import dispute_by_id

    chosen = [
        name for name, on in (("uphold", grant), ("reject", refuse), ("extend", extend)) if on
    ]
    if len(chosen) != 1:
        raise typer.BadParameter("choose exactly one of --grant | --refuse | --extend")
    with open_ledger(ctx) as ledger:
        if dispute_by_id(ledger.engine, application).kind != "repair":
            raise NotFound(
                f"application {application}: no such repair application "
                "(a dispute: osmanthus disputes answer)"
            )
        actor = department_actor(ledger, key, department)
        found = answer_dispute(
            ledger,
            application,
            chosen[0],  # type: ignore[arg-type]
            department=department,
            actor=actor,
            reason=reason,
            days=days,
            new_information=new_information,
        )
    print_dispute(found)
