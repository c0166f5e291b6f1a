"""``osmanthus retention run``: erase the residents and records whose retention under
the policy has run (the service's upkeep does it daily)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from osmanthus.cli.base import OPERATOR, IdArg, app, domain_errors, open_ledger, out

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


@retention_app.command("erase")
@domain_errors
def retention_erase(
    ctx: typer.Context,
    national_id: IdArg,
    ground: Annotated[
        str,
        typer.Option(
            help="The legal ground: the instrument and the request or order "
            '("PIPL Art. 47, request of 2026-12-01 granted").'
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be erased; write nothing.")
    ] = False,
) -> None:
    """Erase one resident now, on a stated legal ground (a court order, a granted
    request): the same erasure as retention's, one audited entry naming the ground;
    refused while a dispute or application of theirs is under way."""
    from osmanthus.retention import erase_on_demand

    with open_ledger(ctx) as ledger:
        done = erase_on_demand(ledger, national_id, ground, actor=OPERATOR, dry_run=dry_run)
    changed = ", ".join(f"{table} {n}" for table, n in sorted(done.changed.items()))
    deleted = ", ".join(f"{table} {n}" for table, n in sorted(done.deleted.items()))
    if dry_run:
        out.print(
            f"would erase: rows changed {changed or 'none'}; deleted {deleted or 'none'}",
            highlight=False,
        )
        return
    out.print(
        f"erased as {done.tombstone} (audit entry {done.seq}): rows changed {changed or 'none'}; "
        f"deleted {deleted or 'none'}; {done.redacted} audit entries redacted",
        highlight=False,
    )
