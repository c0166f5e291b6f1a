"""``osmanthus retention run``: erase the residents and records whose retention under
the policy has run (the service's upkeep does it daily)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from osmanthus.cli.base import app, domain_errors, open_ledger, out

retention_app = typer.Typer(
    help="Retention: erase what the policy no longer lets the ledger keep.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")


@retention_app.command("run")
@domain_errors
def retention_run(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be erased; write nothing.")
    ] = False,
    today: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Count retention up to this day (default: today)."),
    ] = None,
) -> None:
    """Erase residents whose death or departure retention ran, and retire records whose
    retention after removal ran (policy [retention]); each erasure is one audited entry."""
    from osmanthus.retention import retention_pass

    with open_ledger(ctx) as ledger:
        report = retention_pass(ledger, today.date() if today else None, dry_run=dry_run)
    verb = "would erase" if dry_run else "erased"
    residents = ", ".join(f"{n} after {why}" for why, n in sorted(report.residents.items()))
    out.print(
        f"retention on {report.today}: {verb} {sum(report.residents.values())} resident(s)"
        f"{f' ({residents})' if residents else ''} and {report.records} record(s)",
        highlight=False,
    )
    if not dry_run and report.entries_redacted:
        out.print(f"{report.entries_redacted} audit entries redacted", highlight=False)
    for line in report.skipped:
        out.print(f"left for later: {line}", markup=False, highlight=False)
