"""Benchmark: what sealing rows under the audit chain costs, and what verifying them costs.

1. **Intake with and without row digests, same run.** One batch file (Parquet, ``--rows``
   rows) is submitted with ``osmanthus.intake.submit_batch`` into fresh copies of one
   ledger of ``--residents`` residents, alternating (A B A B ...): *with* digests as
   shipped, and *without*, where the child process replaces
   ``StagedRecords._seal`` (the column-wise encoding and hashing of the rows written)
   with a no-op. Everything else is the same code: the ids are still taken before the
   insert, the entry still claims the batch row, and the sealing thread is started.
   Each run is its own process; wall
   seconds and CPU seconds (user + system of the process) are reported, medians of
   ``--runs`` pairs.
2. **``audit verify``** (the chain and every sealed row) on the ledger a *with* run left:
   ``--residents`` residents and ``--rows`` records. Wall and CPU seconds, and the same
   per row extrapolated to the city (13 M residents, 60 M records), and the chain-only
   verification for comparison.

SQLite by default; ``--pg`` adds PostgreSQL (a fresh schema per run, dropped after).
Results are printed as Markdown and written to bench/results/row-digests-<stamp>.json;
the last line printed is one JSON object of the medians, ratios and verification figures.

    .venv/bin/python bench/row_digests.py                           # 1 M residents, 1 M rows
    .venv/bin/python bench/row_digests.py --residents 100000 --rows 200000 --runs 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import intake as shared  # bench/intake.py: data, ledgers, Postgres schemas

CITY_RESIDENTS, CITY_RECORDS = 13_000_000, 60_000_000
RESULTS = Path(__file__).resolve().parent / "results"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(args: argparse.Namespace) -> dict[str, Any]:
    from osmanthus.intake import submit_batch
    from osmanthus.ledger import Actor, StagedRecords, verify_ledger

    if args.child == "verify":
        ledger = shared.open_ledger(args.url)
        figures = {}
        for name, rows in (("chain_only", False), ("full", True)):
            cpu, wall = cpu_seconds(), time.perf_counter()
            result = verify_ledger(ledger.engine, rows=rows)
            figures[name] = {
                "seconds": time.perf_counter() - wall,
                "cpu_seconds": cpu_seconds() - cpu,
                "entries": result.head.count,
                "rows": result.rows,
            }
        return figures
    if args.child == "without":
        StagedRecords._seal = lambda self, rows: None  # type: ignore[method-assign]
    ledger = shared.open_ledger(args.url)
    cpu, wall = cpu_seconds(), time.perf_counter()
    outcome = submit_batch(
        ledger,
        Path(args.file),
        department=shared.DEPARTMENT,
        actor=Actor(*shared.ACTOR),
        batch_id=args.batch_id,
    )
    seconds, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    if outcome.status != "committed" or outcome.accepted != args.expect:
        raise SystemExit(f"expected {args.expect:,} rows committed, found {outcome.summary()}")
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": outcome.rows}


def run(kind: str, url: str, path: Path, rows: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, "--url", url, "--file", str(path)]
    command += ["--batch-id", f"bench-{uuid.uuid4().hex[:8]}", "--expect", str(rows)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind}: the child failed ({done.returncode}):\n{done.stderr}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def fresh(database: str, template: Path, pg: Any, ids: Any) -> tuple[str, Any]:
    """A fresh ledger to submit into: a copy of the SQLite file, or a new PG schema."""
    if database == "sqlite":
        copy = template.with_name(f"ledger-{uuid.uuid4().hex[:8]}.db")
        shutil.copyfile(template, copy)
        return f"sqlite:///{copy}", copy
    schema, url = pg.create()
    shared.set_up_ledger(url, ids)
    pg.analyze(schema)
    return url, schema


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    ids = shared.national_ids(args.residents)
    paths = shared.write_batch_files(folder, args.rows, 1, shared.arrow_strings(ids), args.seed)
    batch = paths["parquet"]
    template = folder / "template.db"
    shared.set_up_ledger(f"sqlite:///{template}", ids)
    report: dict[str, Any] = {}
    databases = ["sqlite"] + (["postgresql"] if args.pg else [])
    pg = shared.Postgres(args.pg_url) if args.pg else None
    for database in databases:
        runs: dict[str, list[dict[str, Any]]] = {"with": [], "without": []}
        last_with: tuple[str, Any] | None = None
        for run_no in range(args.runs):
            for kind in ("with", "without") if run_no % 2 == 0 else ("without", "with"):
                url, handle = fresh(database, template, pg, ids)
                figures = run(kind, url, batch, args.rows)
                runs[kind].append(figures)
                print(
                    f"{database} run {run_no + 1} {kind}: {figures['seconds']:.2f} s wall, "
                    f"{figures['cpu_seconds']:.2f} CPU-s",
                    flush=True,
                )
                if kind == "with" and last_with is None:
                    last_with = (url, handle)
                elif database == "sqlite":
                    Path(handle).unlink()
                else:
                    pg.drop(handle)
        assert last_with is not None
        verified = run("verify", last_with[0], batch, 0)
        if database == "sqlite":
            Path(last_with[1]).unlink()
        else:
            pg.drop(last_with[1])
        report[database] = summary(runs, verified, args)
    return report


def summary(
    runs: dict[str, list[dict[str, Any]]], verified: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    med = {
        kind: {m: statistics.median(r[m] for r in found) for m in ("seconds", "cpu_seconds")}
        for kind, found in runs.items()
    }
    rows = args.residents + args.rows
    full = verified["full"]
    per_row = full["cpu_seconds"] / rows
    return {
        "runs": runs,
        "median": med,
        "slower_wall": med["with"]["seconds"] / med["without"]["seconds"] - 1,
        "slower_cpu": med["with"]["cpu_seconds"] / med["without"]["cpu_seconds"] - 1,
        "verify": verified,
        "verify_city_cpu_seconds": per_row * (CITY_RESIDENTS + CITY_RECORDS),
        "verify_city_wall_seconds": full["seconds"] / rows * (CITY_RESIDENTS + CITY_RECORDS),
    }


def markdown(report: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"Intake of {args.rows:,} rows (Parquet) into a ledger of {args.residents:,} residents, "
        f"medians of {args.runs} interleaved pairs:",
        "",
        "| database | with digests | without | slower (wall / CPU) | verify (rows) | "
        "verify (chain only) | verify at 13 M / 60 M |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for database, found in report.items():
        w, wo, v = found["median"]["with"], found["median"]["without"], found["verify"]
        lines.append(
            f"| {database} | {w['seconds']:.2f} s ({w['cpu_seconds']:.2f} CPU-s) | "
            f"{wo['seconds']:.2f} s ({wo['cpu_seconds']:.2f} CPU-s) | "
            f"{found['slower_wall']:+.1%} / {found['slower_cpu']:+.1%} | "
            f"{v['full']['seconds']:.1f} s ({v['full']['cpu_seconds']:.1f} CPU-s) | "
            f"{v['chain_only']['seconds']:.2f} s | "
            f"~{found['verify_city_wall_seconds'] / 60:.0f} min wall |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs (with, without)")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL too")
    parser.add_argument("--pg-url", default=shared.PG_URL)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--child", choices=["with", "without", "verify"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--batch-id", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    folder = Path(tempfile.mkdtemp(prefix="osmanthus-digests-"))
    try:
        report = measure(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    text = markdown(report, args)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"row-digests-{stamp}.json"
    out.write_text(json.dumps({"args": vars(args), "report": report}, indent=2) + "\n")
    print(f"\nraw figures: {out}")
    print(  # one line a script can compare runs by (the runs themselves are in the file)
        json.dumps(
            {
                "rows": args.rows,
                "residents": args.residents,
                "runs": args.runs,
                **{
                    database: rounded({k: v for k, v in found.items() if k != "runs"})
                    for database, found in report.items()
                },
                "raw": str(out),
            }
        )
    )


def rounded(value: Any) -> Any:
    """``value`` with every float rounded to 4 decimals (nested dicts and lists too)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


if __name__ == "__main__":
    main()
