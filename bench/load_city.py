"""Benchmark: generate and load a synthetic city through the ledger's validated write paths.

Measures, in the same run and on the same generated data:

- the bulk path (numpy column validation + executemany on SQLite / COPY on PostgreSQL),
  for the whole city (default 1,000,000 residents with their records);
- the baseline: the single-row validated path (``register_resident`` + ``append_record``,
  one transaction and one audit entry each), on the first ``--baseline-residents``.

Each measurement runs in a fresh subprocess, so peak memory (max RSS) is its own. Prints
the median of ``--runs`` runs and writes the raw figures to bench/results/; the last line
printed is one JSON object of the medians.

    .venv/bin/python bench/load_city.py --residents 1000000 --runs 3
    .venv/bin/python bench/load_city.py --database-url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "suzhou-example"
AS_OF = dt.date(2026, 11, 1)


def _ledger(url: str) -> Any:
    from osmanthus.ledger import Actor, Ledger, connect, migrate
    from osmanthus.policy import load_policy

    engine = connect(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in ("audit_log", "records", "residents", "departments", "alembic_version"):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    migrate(engine)
    clock = lambda: dt.datetime.combine(AS_OF, dt.time(12), tzinfo=dt.UTC)  # noqa: E731
    ledger = Ledger(engine, load_policy(POLICY), b"bench-key-" + b"0" * 32, clock=clock)
    ledger.sync_departments(Actor("operator", "bench"))
    return ledger


def measure_bulk(url: str, residents: int) -> dict[str, Any]:
    from osmanthus.synthetic import CitySpec, load_city

    ledger = _ledger(url)
    result = load_city(ledger, CitySpec(residents=residents, as_of=AS_OF))
    ledger.engine.dispose()
    return {
        "residents": result.residents,
        "records": result.records,
        "seconds": result.seconds,
        "load_seconds": result.load_seconds,
    }


def measure_single_row(url: str, residents: int) -> dict[str, Any]:
    from osmanthus.ledger import Actor, NewRecord
    from osmanthus.synthetic import CitySpec, generate_city

    ledger = _ledger(url)
    actor = Actor("operator", "bench")
    chunk = next(generate_city(CitySpec(residents=residents, as_of=AS_OF), ledger.policy.latest))
    records, people = chunk.records, chunk.people
    started = time.perf_counter()
    for number, district in zip(people.national_id.tolist(), people.district.tolist(), strict=True):
        ledger.register_resident(number, district, actor=actor)
    for i in range(len(records)):
        ledger.append_record(
            NewRecord(
                national_id=str(people.national_id[records.resident[i]]),
                department=str(records.department[i]),
                metric=str(records.metric[i]),
                value=float(records.value[i]),
                act_date=records.act_date[i].astype("datetime64[D]").item(),
                decision_date=records.decision_date[i].astype("datetime64[D]").item(),
                source_ref=str(records.source_ref[i]),
            ),
            actor=actor,
        )
    seconds = time.perf_counter() - started
    ledger.engine.dispose()
    return {"residents": len(people), "records": len(records), "seconds": seconds}


def child(args: argparse.Namespace) -> None:
    measure = measure_bulk if args.child == "bulk" else measure_single_row
    figures = measure(args.url, args.residents)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def run_child(kind: str, url: str, residents: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--url", url, "--residents", str(residents)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    rows = figures["residents"] + figures["records"]
    figures["rows_per_s"] = rows / figures["seconds"]
    figures["load_rows_per_s"] = rows / figures.get("load_seconds", figures["seconds"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--baseline-residents", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--child", choices=["bulk", "single"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    results: dict[str, list[dict[str, Any]]] = {"bulk": [], "single": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for kind, size in (("bulk", args.residents), ("single", args.baseline_residents)):
                url = args.database_url or f"sqlite:///{tmp}/{kind}-{run}.db"
                figures = run_child(kind, url, size)
                results[kind].append(figures)
                print(
                    f"run {run + 1} {kind:6}: {figures['residents']:,} residents + "
                    f"{figures['records']:,} records in {figures['seconds']:.1f} s = "
                    f"{figures['rows_per_s']:,.0f} rows/s (validate + write alone: "
                    f"{figures['load_rows_per_s']:,.0f} rows/s), "
                    f"peak RSS {figures['peak_rss_mb']:,.0f} MB",
                    flush=True,
                )
                Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    bulk = statistics.median(r["rows_per_s"] for r in results["bulk"])
    single = statistics.median(r["rows_per_s"] for r in results["single"])
    memory = statistics.median(r["peak_rss_mb"] for r in results["bulk"])
    load_only = statistics.median(r["load_rows_per_s"] for r in results["bulk"])
    backend = (args.database_url or "sqlite").split(":")[0]
    print(
        f"\n{backend}: bulk generate+load {bulk:,.0f} rows/s, validate+write alone "
        f"{load_only:,.0f} rows/s (medians of {args.runs}), peak RSS {memory:,.0f} MB; "
        f"single-row baseline {single:,.0f} rows/s; ratio {load_only / single:.0f}x"
    )
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    out = out_dir / f"load_city-{backend}-{stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    print(  # one line a script can compare runs by: medians
        json.dumps(
            {
                "database": backend,
                "residents": args.residents,
                "records": results["bulk"][0]["records"],
                "baseline_residents": args.baseline_residents,
                "baseline_records": results["single"][0]["records"],
                "runs": args.runs,
                "bulk_rows_per_s": round(bulk),
                "bulk_seconds": round(statistics.median(r["seconds"] for r in results["bulk"]), 2),
                "load_rows_per_s": round(load_only),
                "peak_rss_mb": round(memory, 1),
                "single_rows_per_s": round(single),
                "load_over_single": round(load_only / single, 1),
                "raw": str(out.relative_to(ROOT)),
            }
        )
    )


if __name__ == "__main__":
    main()
