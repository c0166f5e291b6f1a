"""``osmanthus profile record``: a department reports a dated profile fact a rule needs
(the civil registry's dates of death and of leaving the city, a licence date)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from osmanthus.cli.base import IdArg, app, domain_errors, open_ledger, out
from osmanthus.cli.disputes import StaffKey, department_actor

profile_app = typer.Typer(
    help="Profile facts a rule needs: record one (a department).", no_args_is_help=True
)
app.add_typer(profile_app, name="profile")


@profile_app.command("record")
@domain_errors
def profile_record(
    ctx: typer.Context,
    national_id: IdArg,
    attribute: Annotated[str, typer.Argument(help="The attribute, as the policy declares it.")],
    value: Annotated[
        dt.datetime, typer.Argument(formats=["%Y-%m-%d"], metavar="DATE", help="The date.")
    ],
    department: Annotated[str, typer.Option(help="The reporting department (its code).")],
    source_ref: Annotated[str, typer.Option(help="The department's reference of the fact.")],
    key: StaffKey = None,
) -> None:
    """Record a profile fact (the policy must declare the attribute and let the
    department report it); audited. With --key, the key must be the department's own."""
    with open_ledger(ctx) as ledger:
        actor = department_actor(ledger, key, department)
        fact_id = ledger.record_profile(
            national_id,
            attribute,
            value.date(),
            department=department,
            source_ref=source_ref,
            actor=actor,
        )
    out.print(f"profile fact {fact_id}: {attribute} {value.date()} recorded", highlight=False)
