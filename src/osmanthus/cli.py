"""The ``osmanthus`` command: a thin shell over the library (parse, call, print).

Domain errors become one line on stderr and exit code 1.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from osmanthus.errors import ConfigError, OsmanthusError
from osmanthus.intake import Outcome, load_outcome, submit_batch
from osmanthus.intake.coverage import DepartmentCoverage, coverage
from osmanthus.intake.report import report_csv, report_json
from osmanthus.ledger import Actor, Ledger, chain_head, migrate, read_only, verify_chain
from osmanthus.policy import load_policy, summarise
from osmanthus.scoring import Distribution, Explanation, distribution, explain, run_cases
from osmanthus.settings import Settings, get_settings
from osmanthus.synthetic import CitySpec, load_city, write_sample_batch

app = typer.Typer(
    help="Osmanthus civic-credit points: ledger, scoring and audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
audit_app = typer.Typer(help="Verify and publish the audit chain.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
policy_app = typer.Typer(help="Check a policy and run its authors' tests.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


class _SubmitByDefault(typer.core.TyperGroup):
    """``osmanthus intake FILE ...`` submits; ``osmanthus intake report BATCH`` reports."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["submit", *args]
        return super().resolve_command(ctx, args)


intake_app = typer.Typer(
    cls=_SubmitByDefault,
    help="Submit a department's batch file (osmanthus intake FILE --department D), "
    "or show a batch's report (osmanthus intake report BATCH).",
    no_args_is_help=True,
)
app.add_typer(intake_app, name="intake")
PolicyDir = Annotated[Path, typer.Argument(help="Policy directory (version files + tests/).")]

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
OPERATOR = Actor("operator", "cli")
F = TypeVar("F", bound=Callable[..., Any])

IdArg = Annotated[str, typer.Argument(help="The resident's 18-character national ID number.")]
AsOf = Annotated[
    dt.datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="Legal date to score at (default: today)."),
]
KnownAt = Annotated[
    dt.datetime | None,
    typer.Option(
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="Only records recorded by then (UTC)."
    ),
]
Purpose = Annotated[str, typer.Option(help="Why you read this resident's data (audited).")]


@app.callback()
def main(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Use the demo city (demo mode).")] = False,
) -> None:
    """Osmanthus: every point cites its legal basis; every access is audited."""
    ctx.obj = {"demo": demo}


def _settings(ctx: typer.Context, **overrides: Any) -> Settings:
    if ctx.obj and ctx.obj.get("demo"):
        overrides.setdefault("demo_mode", True)
    return get_settings(**overrides)


def domain_errors(func: F) -> F:
    """Print an Osmanthus error as one line and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OsmanthusError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def _open(ctx: typer.Context, *, ready: bool = True, **overrides: Any) -> Iterator[Ledger]:
    ledger = Ledger.from_settings(_settings(ctx, **overrides))
    try:
        if ready:
            ledger.check_ready()
        yield ledger
    finally:
        ledger.engine.dispose()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@app.command()
@domain_errors
def init(ctx: typer.Context) -> None:
    """Create or upgrade the ledger schema and register the policy's departments."""
    with _open(ctx, ready=False) as ledger:
        migrate(ledger.engine)
        added = ledger.sync_departments(OPERATOR)
        where = ledger.engine.url.render_as_string(hide_password=True)
    out.print(f"ledger ready at {where}; {added} department(s) registered")


@app.command()
@domain_errors
def demo(
    ctx: typer.Context,
    residents: Annotated[int, typer.Option(min=1, help="Residents in the city.")] = 100_000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the synthetic city.")] = 2026,
) -> None:
    """Build the synthetic demo city in the embedded database and print its distribution."""
    _remove_demo_database(_settings(ctx, demo_mode=True))
    with _open(ctx, ready=False, demo_mode=True) as ledger:
        migrate(ledger.engine)
        ledger.sync_departments(OPERATOR)
        spec = CitySpec(residents=residents, seed=seed, as_of=ledger.today())
        with _progress() as bar:
            task = bar.add_task("building the city", total=residents)
            loaded = load_city(ledger, spec, progress=lambda n: bar.advance(task, n))
        out.print(
            f"loaded {loaded.residents:,} residents and {loaded.records:,} records in "
            f"{loaded.seconds:.1f} s ({loaded.rows_per_second:,.0f} rows/s)"
        )
        _print_distribution(_distribution(ledger, ledger.today()), spec)
        sample = _settings(ctx, demo_mode=True).data_dir / "demo-batch.csv"
        write_sample_batch(sample, loaded.sample_ids, ledger.today(), seed)
    out.print("\nTry (synthetic ID numbers of this demo city):")
    for band, numbers in loaded.examples.items():
        for number in numbers[:2]:
            out.print(f"  .venv/bin/osmanthus --demo explain {number}    # {band} 100")
    out.print("  .venv/bin/osmanthus --demo stats\n  .venv/bin/osmanthus --demo audit verify")
    out.print(
        f"  .venv/bin/osmanthus --demo intake {sample} --department traffic-police"
        "    # 2 rows wrong on purpose; add --partial\n"
        "  .venv/bin/osmanthus --demo coverage",
        markup=False,
        highlight=False,
    )


def _remove_demo_database(settings: Settings) -> None:
    if settings.database_url:
        raise ConfigError(
            "settings: 'database_url' is set; osmanthus demo builds its own embedded database "
            "(data_dir/demo.db) and never touches a configured one: unset OSMANTHUS_DATABASE_URL"
        )
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


def _distribution(
    ledger: Ledger, as_of: dt.date, known_at: dt.datetime | None = None
) -> Distribution:
    with _progress() as bar:
        task = bar.add_task("scoring the population", total=None)
        return distribution(
            ledger,
            as_of,
            actor=OPERATOR,
            known_at=known_at,
            progress=lambda n: bar.advance(task, n),
        )


def _print_distribution(result: Distribution, spec: CitySpec | None = None) -> None:
    table = Table(title=f"Score distribution on {result.as_of} ({result.total:,} residents)")
    table.add_column("band")
    table.add_column("residents", justify="right")
    table.add_column("share", justify="right")
    if spec:
        table.add_column("calibration", justify="right")
    targets = {"above": spec.above_share, "below": spec.below_share} if spec else {}
    if spec:
        targets["at"] = 1 - spec.above_share - spec.below_share
    for band in ("above", "at", "below"):
        row = [
            f"{band} {result.baseline}",
            f"{getattr(result, band):,}",
            f"{result.share(band):.4%}",
        ]
        if spec:
            row.append(f"{targets[band]:.4%}")
        table.add_row(*row)
    out.print(table)
    top = sorted(result.histogram.items())
    low, high = (top[0][0], top[-1][0]) if top else (0, 0)
    out.print(f"lowest score {low}, highest score {high}")


@app.command()
@domain_errors
def score(
    ctx: typer.Context,
    national_id: IdArg,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    purpose: Purpose = "operator look-up",
) -> None:
    """Print one resident's score."""
    result = _explain(ctx, national_id, as_of, known_at, purpose)
    out.print(result.score if result.score is not None else f"no score: {result.out_of_scope}")


@app.command(name="explain")
@domain_errors
def explain_cmd(
    ctx: typer.Context,
    national_id: IdArg,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    purpose: Purpose = "operator look-up",
) -> None:
    """Print one resident's score with every record, its points, expiry and legal basis."""
    result = _explain(ctx, national_id, as_of, known_at, purpose)
    table = Table(title=f"Score {result.score} on {result.as_of} under {result.policy}")
    for column in ("act date", "record", "points", "counted", "expires", "status", "basis"):
        table.add_column(column, overflow="fold")
    citations: list[str] = []
    for line in result.lines:
        r = line.record
        if line.legal_basis not in citations:
            citations.append(line.legal_basis)
        notes = list(line.notes)
        if line.status == "counted" and line.repair_from:
            notes.append(f"early repair may be requested from {line.repair_from}")
        table.add_row(
            str(r.act_date),
            f"{escape(line.metric_title)}\n[dim]{escape(r.department)} {escape(r.source_ref)}"
            f"{' — ' + escape(r.reason) if r.reason else ''}"
            f"{''.join(chr(10) + escape(note) for note in notes)}[/dim]",
            f"{line.points:+d}",
            f"{line.counted:+d}",
            str(line.expires_on or "never"),
            line.status_text,
            f"[{citations.index(line.legal_basis) + 1}]",
        )
    out.print(table)
    for number, citation in enumerate(citations, start=1):
        out.print(f"[{number}] {citation}", markup=False)
    for adjustment in result.adjustments:
        out.print(f"{adjustment.date}: {adjustment.delta:+d} ({adjustment.reason})")
    scale = result.scale
    if result.out_of_scope:
        out.print(f"no score: {result.out_of_scope}")
        return
    out.print(
        f"baseline {scale.baseline} + counted {result.counted_total:+d}"
        + (
            f" + adjustments {sum(a.delta for a in result.adjustments):+d}"
            if result.adjustments
            else ""
        )
        + f" = {result.raw}; floor {scale.floor}, ceiling {scale.ceiling}: "
        f"adjustment {result.adjustment:+d} → score {result.score}"
    )
    if result.grade:
        forced = f" (forced by: {result.forced_by})" if result.forced_by else ""
        out.print(f"grade {result.grade}{forced}")
    for measure in result.measures:
        out.print(f"measure: {measure.name} on {measure.date} at standing {measure.standing}")
    for perk in result.perks:
        verdict = f"eligible until {perk.valid_until}" if perk.eligible else "not eligible"
        out.print(f"perk {perk.title} ({perk.provider}): {verdict} — {perk.reason}")


def _explain(
    ctx: typer.Context,
    national_id: str,
    as_of: dt.datetime | None,
    known_at: dt.datetime | None,
    purpose: str,
) -> Explanation:
    known = known_at.replace(tzinfo=dt.UTC) if known_at else None
    with _open(ctx) as ledger:
        day = as_of.date() if as_of else ledger.today()
        resident, rows = ledger.read_resident(
            national_id, actor=OPERATOR, purpose=purpose, known_at=known
        )
        return explain(rows, ledger.policy, day, known_at=known, subject=resident.subject)


@app.command()
@domain_errors
def stats(ctx: typer.Context, as_of: AsOf = None, known_at: KnownAt = None) -> None:
    """Print the score distribution of the whole population."""
    known = known_at.replace(tzinfo=dt.UTC) if known_at else None
    with _open(ctx) as ledger:
        day = as_of.date() if as_of else ledger.today()
        _print_distribution(_distribution(ledger, day, known))


@audit_app.command("verify")
@domain_errors
def audit_verify(
    ctx: typer.Context,
    head: Annotated[str | None, typer.Option(help="Published head hash to check against.")] = None,
) -> None:
    """Recompute the audit chain; name the first entry that does not match."""
    with _open(ctx) as ledger:
        result = verify_chain(ledger.engine, expected_head=head)
    out.print(
        f"audit chain verified: {result.count:,} entries, head {result.hash} at entry {result.seq}"
    )


@audit_app.command("head")
@domain_errors
def audit_head(ctx: typer.Context) -> None:
    """Print the newest entry's number and hash, to publish."""
    with _open(ctx) as ledger:
        result = chain_head(ledger.engine)
    out.print(f"{result.seq} {result.hash}")


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
    settings = _settings(ctx)
    with _open(ctx) as ledger, _progress() as bar:
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
    with _open(ctx) as ledger, read_only(ledger.engine) as conn:
        outcome = load_outcome(conn, batch, department)
    if as_json:
        out.print(report_json(outcome), markup=False, highlight=False, end="")
        return
    _print_outcome(outcome, output)


def _print_outcome(outcome: Outcome, report: Path | None, shown: int = 20) -> None:
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
    with _open(ctx) as ledger:
        found = coverage(ledger)
    if by_month:
        _print_months(found)
        return
    table = Table("department", "last batch", "batches", "accepted", "refused", "never reported")
    for entry in found:
        last = (
            f"{entry.last_batch_id} {entry.last_batch_at:%Y-%m-%d}"
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
    table = Table("department", *months, title="rows accepted / not accepted (UTC months)")
    for entry in found:
        cells = [
            "{:,} / {:,}".format(*entry.by_month[m]) if m in entry.by_month else "-" for m in months
        ]
        table.add_row(escape(entry.code), *cells)
    out.print(table)
