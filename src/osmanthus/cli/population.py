"""Commands on the whole population: population export, population run, stats."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from osmanthus.cli.base import (
    OPERATOR,
    AsOf,
    KnownAt,
    app,
    cli_settings,
    domain_errors,
    open_ledger,
    out,
    progress_bar,
)

if TYPE_CHECKING:  # the population engine (DuckDB, pyarrow) loads only for these commands
    from osmanthus.ledger import Ledger
    from osmanthus.population import RunResult
    from osmanthus.synthetic import CitySpec

population_app = typer.Typer(
    help="Export the ledger to the Parquet lake and score the whole population.",
    no_args_is_help=True,
)
app.add_typer(population_app, name="population")


class EngineName(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


EngineOption = Annotated[
    EngineName, typer.Option(help="duckdb (one machine) or spark (settings: spark_master).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")]
FullOption = Annotated[
    bool,
    typer.Option(
        "--full",
        help="Score every resident, not only those whose outcome may have changed since "
        "the last run.",
    ),
]


@population_app.command("export")
@domain_errors
def population_export(ctx: typer.Context) -> None:
    """Append the ledger's rows not yet exported to the Parquet lake."""
    from osmanthus.population import export_ledger

    settings = cli_settings(ctx)
    lake = settings.resolved_population_dir / "lake"
    with open_ledger(ctx, policy=False) as ledger, progress_bar() as bar:
        task = bar.add_task("exporting", total=None)
        result = export_ledger(
            ledger.engine, lake, actor=OPERATOR, progress=lambda n: bar.advance(task, n)
        )
    added = ", ".join(f"{n:,} {table}" for table, n in result.rows.items())
    again = f"; wrote {result.rewritten} bucket(s) again after erasures" if result.rewritten else ""
    out.print(f"lake {lake}: export {result.export} added {added}{again}")


@population_app.command("run")
@domain_errors
def population_run(
    ctx: typer.Context,
    engine: EngineOption = EngineName.duckdb,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    as_json: JsonOption = False,
    full: FullOption = False,
) -> None:
    """Score the population on a date (as known at a time) and print the statistics. A
    run continues from the last one when it can: it scores again only the residents with
    new rows or whose outcome may change by the date (--full: everyone). A run of the
    present also tells each resident who lost or gained a perk since the last such run
    (a notice)."""
    from osmanthus.notices.perks import perk_notices

    with open_ledger(ctx) as ledger:
        result = _run(ctx, ledger, engine.value, as_of, known_at, full=full)
        changes = perk_notices(ledger, result)
    if changes.compared_with and not as_json:
        out.print(
            f"perk notices: {changes.lost} lost and {changes.gained} gained since run "
            f"{changes.compared_with} ({changes.written} written)",
            highlight=False,
        )
    if as_json:
        out.print_json(json.dumps(result.stats, default=str))
    else:
        print_stats(result)


app.command(
    "stats", help="Print the population's statistics (a population run; see 'population run')."
)(population_run)


def _run(
    ctx: typer.Context,
    ledger: Ledger,
    engine: str,
    as_of: dt.datetime | None,
    known_at: dt.datetime | None,
    *,
    full: bool = False,
) -> RunResult:
    from osmanthus.population import run_population

    settings = cli_settings(ctx)
    day = as_of.date() if as_of else ledger.today()
    known = known_at.replace(tzinfo=dt.UTC) if known_at else None
    options: dict[str, Any] = {"master": settings.spark_master} if engine == "spark" else {}
    with progress_bar() as bar:
        task = bar.add_task(f"scoring the population ({engine})", total=None)
        return run_population(
            ledger,
            settings.resolved_population_dir,
            as_of=day,
            known_at=known,
            actor=OPERATOR,
            engine=engine,
            progress=lambda n: bar.advance(task, n),
            full=full,
            **options,
        )


def print_distribution(stats: dict[str, Any], as_of: dt.date, spec: CitySpec | None = None) -> None:
    """The above/at/below table (with the synthetic city's calibration when given)."""
    total = stats["in_scope"]
    from rich.table import Table

    table = Table(title=f"Score distribution on {as_of} ({total:,} residents)")
    for name in ("band", "residents", "share", *(["calibration"] if spec else [])):
        table.add_column(name, justify="left" if name == "band" else "right")
    targets = {}
    if spec:
        targets = {"above": spec.above_share, "below": spec.below_share}
        targets["at"] = 1 - spec.above_share - spec.below_share
    for band in ("above", "at", "below"):
        share = stats[band] / total if total else 0.0
        row = [f"{band} {stats['baseline']}", f"{stats[band]:,}", f"{share:.4%}"]
        if spec:
            row.append(f"{targets[band]:.4%}")
        table.add_row(*row)
    out.print(table)
    if stats["out_of_scope"]:
        out.print(f"outside the scheme's scope: {stats['out_of_scope']:,} residents")
    if stats["lowest"] is not None:  # a run of no resident has neither
        out.print(f"lowest score {stats['lowest']}, highest score {stats['highest']}")


def print_stats(result: RunResult) -> None:
    """Every statistic of a run, as tables."""
    stats = result.stats
    print_distribution(stats, result.as_of)
    _table("By district", stats["by_district"])
    _table("By age band", stats["by_age"])
    _table("Perks: residents eligible", stats["perks"])
    _table("Departments: points of the records that count now", stats["departments"])
    if stats["measures"]:
        _table("Staged measures (the latest taken)", stats["measures"])
    change = stats["change"]
    if change:
        out.print(
            f"since run {change['previous_run']}: {change['changed']:,} of "
            f"{change['compared']:,} residents changed score ({change['up']:,} up, "
            f"{change['down']:,} down), {change['new_residents']:,} new, {change['gone']:,} gone"
        )
        for move in change["moved"]:
            out.print(f"  {move['before']} -> {move['after']}: {move['residents']:,}")
    else:
        out.print("first run: nothing to compare with")
    scored = (
        f"everyone scored ({result.full})"
        if result.full
        else f"{result.rescored:,} residents scored again since run {result.previous}"
    )
    out.print(
        f"run {result.run_id} ({result.engine}, {result.seconds:.1f} s; {scored}; "
        f"{stats['reference_path']:,} residents scored step by step); "
        f"lake +{result.export.total if result.export else 0:,} rows"
    )


def _table(title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    from rich.table import Table

    table = Table(title=title)
    for name in rows[0]:
        table.add_column(
            name.replace("_", " "),
            justify="left" if name in rows[0] and isinstance(rows[0][name], str) else "right",
        )
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
    out.print(table)
