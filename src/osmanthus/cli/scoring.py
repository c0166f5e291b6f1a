"""Commands on the ledger and one resident or the whole population: init, demo, score,
explain, stats."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core

from osmanthus.cli.base import (
    OPERATOR,
    AsOf,
    IdArg,
    KnownAt,
    Purpose,
    app,
    approved_or_refuse,
    cli_settings,
    domain_errors,
    open_ledger,
    out,
    progress_bar,
)
from osmanthus.errors import ConfigError

if TYPE_CHECKING:  # the look-ups load scoring only; init and demo load the rest
    from osmanthus.scoring import Explanation
    from osmanthus.settings import Settings


@app.command()
@domain_errors
def init(
    ctx: typer.Context,
    service_role: Annotated[
        str | None,
        typer.Option(
            "--service-role",
            metavar="ROLE",
            help="PostgreSQL: create ROLE if missing and grant it what the service and CLI "
            "need: INSERT and SELECT only on the append-only tables (run init as the owner).",
        ),
    ] = None,
) -> None:
    """Create or upgrade the ledger schema. In demo mode, also put the demo policy
    through the approval path (two demo approvers)."""
    from osmanthus.cli.policy import approve_demo_policy
    from osmanthus.governance import approved
    from osmanthus.ledger import grant_service_role, migrate

    settings = cli_settings(ctx)
    with open_ledger(ctx, ready=False, policy=False) as ledger:
        migrate(ledger.engine)
        ledger.record_key(str(OPERATOR))
        where = ledger.engine.url.render_as_string(hide_password=True)
        created = grant_service_role(ledger.engine, service_role) if service_role else None
        if settings.demo_mode:
            status = approve_demo_policy(ledger, settings)
        elif (current := approved(ledger.engine)) is not None:
            status = f"policy {current.policy} in force: proposal {current.id}"
        else:
            status = (
                "no approved policy yet: propose one (osmanthus policy propose DIR --key KEY) "
                "and have a policy-approver approve it"
            )
    out.print(f"ledger ready at {where}; {status}", markup=False, highlight=False)
    if service_role:
        made = "created and granted" if created else "granted"
        out.print(f"role {service_role} {made}: connect the service and the CLI as it")


@app.command()
@domain_errors
def demo(
    ctx: typer.Context,
    residents: Annotated[int, typer.Option(min=1, help="Residents in the city.")] = 100_000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the synthetic city.")] = 2026,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the web service afterwards.")
    ] = True,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the web service.")] = 8000,
) -> None:
    """Build the synthetic demo city, print its distribution and a sign-in for each role,
    and serve it (``--no-serve`` only builds it, for scripts)."""
    from osmanthus.cli.policy import approve_demo_policy
    from osmanthus.cli.population import print_distribution
    from osmanthus.cli.web import create_demo_signins, print_signins, run_service
    from osmanthus.ledger import migrate
    from osmanthus.notices import skip_records
    from osmanthus.population import run_population
    from osmanthus.synthetic import CitySpec, load_city, write_sample_batch

    _remove_demo_database(cli_settings(ctx, demo_mode=True))
    with open_ledger(ctx, ready=False, policy=False, demo_mode=True) as ledger:
        migrate(ledger.engine)
        ledger.record_key(str(OPERATOR))
        out.print(approve_demo_policy(ledger, cli_settings(ctx, demo_mode=True)), markup=False)
        ledger.use_policy(approved_or_refuse(ledger))
        spec = CitySpec(residents=residents, seed=seed, as_of=ledger.today())
        with progress_bar() as bar:
            task = bar.add_task("building the city", total=residents)
            loaded = load_city(ledger, spec, progress=lambda n: bar.advance(task, n))
        out.print(
            f"loaded {loaded.residents:,} residents and {loaded.records:,} records in "
            f"{loaded.seconds:.1f} s ({loaded.rows_per_second:,.0f} rows/s)"
        )
        run = run_population(
            ledger,
            cli_settings(ctx, demo_mode=True).resolved_population_dir,
            as_of=ledger.today(),
            actor=OPERATOR,
        )
        print_distribution(run.stats, run.as_of, spec)
        skip_records(ledger)  # the city's history is not news: notices start from here
        sample = cli_settings(ctx, demo_mode=True).data_dir / "demo-batch.csv"
        write_sample_batch(sample, loaded.sample_ids, ledger.today(), seed)
        signins = create_demo_signins(
            ledger, loaded.examples, sample.with_name("demo-signins.json")
        )
    out.print("\nTry (synthetic ID numbers of this demo city):")
    for band, numbers in loaded.examples.items():
        for number in numbers[:2]:
            out.print(f"  .venv/bin/osmanthus --demo explain {number}    # {band} 100")
    out.print("  .venv/bin/osmanthus --demo stats\n  .venv/bin/osmanthus --demo audit verify")
    out.print(
        f"  .venv/bin/osmanthus --demo intake {sample} --department traffic-police"
        "    # 2 rows wrong on purpose: refused; to keep the good rows, send it again\n"
        "    #   with --partial --batch-id demo-partial (a refused batch's id answers with\n"
        "    #   its stored refusal)\n"
        "  .venv/bin/osmanthus --demo coverage",
        markup=False,
        highlight=False,
    )
    print_signins(signins, port if serve else None)
    if serve:
        run_service(cli_settings(ctx, demo_mode=True), host="127.0.0.1", port=port, workers=1)


def _remove_demo_database(settings: Settings) -> None:
    if settings.database_url:
        raise ConfigError(
            "settings: 'database_url' is set; osmanthus demo builds its own embedded database "
            "(data_dir/demo.db) and never touches a configured one: unset OSMANTHUS_DATABASE_URL"
        )
    shutil.rmtree(settings.resolved_population_dir, ignore_errors=True)  # the old city's lake
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


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
    shown = str(result.score) if result.score is not None else f"no score: {result.out_of_scope}"
    typer.echo(shown)  # plain: one number needs no rich console


@app.command(name="explain")
@domain_errors
def explain_cmd(
    ctx: typer.Context,
    national_id: IdArg,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    purpose: Purpose = "operator look-up",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the explanation as JSON (for scripts).")
    ] = False,
) -> None:
    """Print one resident's score with every record, its points, expiry and legal basis."""
    result = _explain(ctx, national_id, as_of, known_at, purpose)
    if as_json:
        typer.echo(json.dumps(explanation_json(result), ensure_ascii=False, indent=2))
        return
    typer.echo(explanation_text(result))  # plain text: a look-up needs no rich console


def explanation_text(result: Explanation) -> str:
    """The explanation as plain lines: each record with its points, what counted, its
    status and expiry and the number of its legal basis, then the bases, the adjustments
    and the sum. A record's lines are indented under its act date, so a narrow terminal
    wraps text, not a table's columns."""
    lines = [f"Score {result.score} on {result.as_of} under {result.policy}", ""]
    citations: list[str] = []
    for line in result.lines:
        r = line.record
        if line.legal_basis not in citations:
            citations.append(line.legal_basis)
        expiry = f"expiry {line.expires_on}" if line.expires_on else "no expiry"
        lines.append(
            f"{r.act_date}  {line.metric_title}  [{citations.index(line.legal_basis) + 1}]"
        )
        indent = " " * 12
        lines.append(
            f"{indent}points {line.points:+d}, counted {line.counted:+d}: "
            f"{line.status_text}; {expiry}"
        )
        reason = f" — {_shown(r.reason)}" if r.reason else ""
        lines.append(f"{indent}record {r.id}: {r.department} {_shown(r.source_ref)}{reason}")
        notes = list(line.notes)
        if line.status == "counted" and result.scale.worse(line.points) and line.repair_from:
            notes.append(
                f"early repair may be requested from {line.repair_from} "
                f"(osmanthus repair apply ID {r.id})"
            )
        lines.extend(f"{indent}{note}" for note in notes)
    if result.lines:
        lines.append("")
    lines.extend(f"[{number}] {citation}" for number, citation in enumerate(citations, 1))
    lines.extend(f"{a.date}: {a.delta:+d} ({a.reason})" for a in result.adjustments)
    scale = result.scale
    if result.out_of_scope:
        lines.append(f"no score: {result.out_of_scope}")
        return "\n".join(lines)
    adjusted = sum(a.delta for a in result.adjustments)
    lines.append(
        f"baseline {scale.baseline} + counted {result.counted_total:+d}"
        + (f" + adjustments {adjusted:+d}" if result.adjustments else "")
        + f" = {result.raw}; floor {scale.floor}, ceiling {scale.ceiling}: "
        f"adjustment {result.adjustment:+d} → score {result.score}"
    )
    if result.grade:
        forced = f" (forced by: {result.forced_by})" if result.forced_by else ""
        lines.append(f"grade {result.grade}{forced}")
    for measure in result.measures:
        until = f", until {measure.until}" if measure.until else ""
        lines.append(
            f"measure: {measure.name} on {measure.date} at standing {measure.standing}{until}"
        )
    for perk in result.perks:
        verdict = f"eligible until {perk.valid_until}" if perk.eligible else "not eligible"
        lines.append(f"perk {perk.title} ({perk.provider}): {verdict} — {perk.reason}")
    return "\n".join(lines)


def _shown(text: str) -> str:
    """A department's text as the terminal may print it: control characters (an escape
    sequence in an uploaded reference) written as ``\\uXXXX``, not sent to the terminal."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def explanation_json(result: Explanation) -> dict[str, Any]:
    """The explanation as plain JSON: the score and, for each record, its ``record_id``,
    points, what it counts, when it expires, its status and legal basis (so that a
    script can pick a record to dispute). No national ID number: it never leaves."""
    return {
        "as_of": result.as_of.isoformat(),
        "known_at": result.known_at.isoformat() if result.known_at else None,
        "policy": result.policy,
        "score": result.score,
        "raw": result.raw,
        "grade": result.grade,
        "out_of_scope": result.out_of_scope,
        "records": [
            {
                "record_id": line.record.id,
                "metric": line.record.metric,
                "title": line.metric_title,
                "department": line.record.department,
                "source_ref": line.record.source_ref,
                "kind": line.record.kind,
                "act_date": line.record.act_date.isoformat(),
                "points": line.points,
                "counted": line.counted,
                "expires": line.expires_on.isoformat() if line.expires_on else None,
                "status": line.status,
                "legal_basis": line.legal_basis,
                "notes": list(line.notes),
            }
            for line in result.lines
        ],
        "perks": [
            {
                "perk": perk.code,
                "eligible": perk.eligible,
                "valid_until": perk.valid_until.isoformat() if perk.valid_until else None,
            }
            for perk in result.perks
        ],
        "adjustments": [
            {"date": a.date.isoformat(), "delta": a.delta, "reason": a.reason}
            for a in result.adjustments
        ],
        "measures": [
            {
                "name": m.name,
                "date": m.date.isoformat(),
                "standing": m.standing,
                "until": m.until.isoformat() if m.until else None,
            }
            for m in result.measures
        ],
    }


def _explain(
    ctx: typer.Context,
    national_id: str,
    as_of: dt.datetime | None,
    known_at: dt.datetime | None,
    purpose: str,
) -> Explanation:
    from osmanthus.scoring import explain

    known = known_at.replace(tzinfo=dt.UTC) if known_at else None
    with open_ledger(ctx) as ledger:
        day = as_of.date() if as_of else ledger.today()
        resident, rows = ledger.read_resident(
            national_id, actor=OPERATOR, purpose=purpose, known_at=known
        )
        return explain(rows, ledger.policy, day, known_at=known, subject=resident.subject)
