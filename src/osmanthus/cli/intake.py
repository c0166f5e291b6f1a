"""Commands for departments' batches: intake, intake report, coverage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import typer.core
from rich.markup import escape

from osmanthus.cli.base import (
    app,
    cli_settings,
    domain_errors,
    intake_app,
    open_ledger,
    out,
    progress_bar,
)
from osmanthus.core import Actor

if TYPE_CHECKING:  # intake (pyarrow, the readers) loads only for these commands
    from osmanthus.intake import Outcome
    from osmanthus.intake.coverage import DepartmentCoverage


@intake_app.command("submit")
@domain_errors
def intake_submit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Batch file: .csv, .jsonl or .parquet.")],
    department: Annotated[str, typer.Option(help="The reporting department's code.")],
    partial: Annotated[
        bool, typer.Option(help="Commit the valid rows and report the rest.")
    ] = False,
    batch_id: Annotated[
        str | None, typer.Option(help="The batch's id (default: the file's fingerprint).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write the report to this .json or .csv file.")
    ] = None,
) -> None:
    """Validate a batch row by row and commit it all or nothing (or --partial)."""
    from osmanthus.intake import submit_batch

    settings = cli_settings(ctx)
    with open_ledger(ctx) as ledger, progress_bar() as bar:
        task = bar.add_task(f"intake {file.name}", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        outcome = submit_batch(
            ledger,
            file,
            department=department,
            actor=Actor("department", department),
            batch_id=batch_id,
            partial=partial,
            progress=progress,
            chunk_rows=settings.intake_chunk_rows,
        )
    _print_outcome(outcome, report)
    if not outcome.committed:
        raise typer.Exit(1)


@intake_app.command("report")
@domain_errors
def intake_report(
    ctx: typer.Context,
    batch: Annotated[str, typer.Argument(help="The batch id.")],
    department: Annotated[str | None, typer.Option(help="The department, if ids repeat.")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write the report to this .json or .csv file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Show a batch's outcome and row-level report (latest submission of that id)."""
    from osmanthus.intake import load_outcome
    from osmanthus.intake.report import report_json
    from osmanthus.ledger import read_only

    with open_ledger(ctx, policy=False) as ledger, read_only(ledger.engine) as conn:
        outcome = load_outcome(conn, batch, department)
    if as_json:
        out.print(report_json(outcome), markup=False, highlight=False, end="")
        return
    _print_outcome(outcome, output)


def _print_outcome(outcome: Outcome, report: Path | None, shown: int = 20) -> None:
    from osmanthus.intake.report import report_csv, report_json

    again = " (already submitted: this is its first outcome)" if outcome.repeated else ""
    out.print(
        f"batch {outcome.batch_id} from {outcome.department}: {outcome.status}{again}; "
        f"{outcome.rows:,} rows, {outcome.accepted:,} accepted, {outcome.refused:,} not "
        f"accepted, {outcome.flagged:,} flagged",
        markup=False,
        highlight=False,
    )
    for p in outcome.problems[:shown]:
        out.print(
            f"  row {p.row}: {p.field}: {p.reason} [{p.level}] {p.value!r}",
            markup=False,
            highlight=False,
        )
    if len(outcome.problems) > shown:
        out.print(f"  ... {len(outcome.problems) - shown:,} more in the full report")
    if report is not None:
        text = report_csv(outcome) if report.suffix.lower() == ".csv" else report_json(outcome)
        report.write_text(text, encoding="utf-8")
        out.print(f"report written to {report}", markup=False, highlight=False)


@app.command("coverage")
@domain_errors
def coverage_cmd(
    ctx: typer.Context,
    by_month: Annotated[
        bool, typer.Option("--by-month", help="Rows accepted / not accepted, month by month.")
    ] = False,
) -> None:
    """Per department: last batch, rows accepted and refused, metrics never reported."""
    from osmanthus.intake.coverage import coverage

    with open_ledger(ctx) as ledger:
        found = coverage(ledger)
        zone = ledger.timezone  # the city's day, as intake's "today" is
    if by_month:
        _print_months(found)
        return
    from rich.table import Table

    table = Table("department", "last batch", "batches", "accepted", "refused", "never reported")
    for entry in found:
        last = (
            f"{entry.last_batch_id} {entry.last_batch_at.astimezone(zone):%Y-%m-%d}"
            if entry.last_batch_at
            else ("(loaded)" if entry.reported else "-")
        )
        table.add_row(
            escape(entry.code),
            escape(last),
            f"{entry.batches:,}",
            f"{entry.accepted:,}",
            f"{entry.refused:,}",
            escape(", ".join(entry.never_reported) or "-"),
        )
    out.print(table)
    silent = [entry.code for entry in found if entry.silent]
    out.print(
        f"{len(found) - len(silent)} of {len(found)} departments have sent data; "
        f"never sent anything: {', '.join(silent) or 'none'}",
        markup=False,
        highlight=False,
    )


def _print_months(found: list[DepartmentCoverage]) -> None:
    months = sorted({month for entry in found for month in entry.by_month})[-12:]
    from rich.table import Table

    table = Table("department", *months, title="rows accepted / not accepted (UTC months)")
    for entry in found:
        cells = [
            "{:,} / {:,}".format(*entry.by_month[m]) if m in entry.by_month else "-" for m in months
        ]
        table.add_row(escape(entry.code), *cells)
    out.print(table)
