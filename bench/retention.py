"""Benchmark: the retention pass over a synthetic city (default 1,000,000 residents).

The city is loaded once through the bulk path (kept in --work), with ``--deaths``
residents whose death the civil registry reported 13 months before the city's date
(``after_death`` = 1 year in the Suzhou example). Every measurement copies it and runs in
a fresh subprocess (its own peak memory), on the embedded SQLite default:

- ``first``: the first pass, the day after the city's date: the synthetic history's
  records removed from sight more than 5 years before are retired (1,000 per
  transaction) and the dead are erased (50 per transaction); then ``audit verify``;
- ``next``: the pass of the following day (after an untimed first pass): nothing new is
  due, but the residents holding old records are scored again;
- ``baseline``: the records the first pass retires, erased by bare SQL ``UPDATE``s (what
  a user would write first: no scoring of who is due, no re-claims, no redaction, no
  audit entry, the tombstone not used).

Prints the median of ``--runs`` interleaved runs (wall and CPU seconds) and writes the
figures to bench/results/retention-*.json; the last line printed is one JSON object of
the medians.

    .venv/bin/python bench/retention.py --residents 1000000 --runs 3
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
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "suzhou-example"
AS_OF = dt.date(2026, 11, 1)
KEY = b"bench-key-" + b"0" * 32


def _ledger(url: str, day: dt.date) -> Any:
    from osmanthus.ledger import Ledger, connect
    from osmanthus.policy import load_policy

    clock = lambda: dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)  # noqa: E731
    return Ledger(connect(url), load_policy(POLICY), KEY, clock=clock)


def build(path: Path, residents: int, deaths: int) -> None:
    """The city, and the civil registry's death reports for ``deaths`` residents."""
    from sqlalchemy import text

    from osmanthus.ledger import Actor, migrate
    from osmanthus.synthetic import CitySpec, load_city

    url = f"sqlite:///{path}"
    ledger = _ledger(url, AS_OF)
    migrate(ledger.engine)
    ledger.sync_departments(Actor("operator", "bench"))
    load_city(ledger, CitySpec(residents=residents, as_of=AS_OF))
    with ledger.engine.connect() as conn:
        ids = [
            int(k)
            for k in conn.execute(
                text("SELECT id FROM residents ORDER BY id LIMIT :n"), {"n": deaths}
            ).scalars()
        ]
    ledger.engine.dispose()
    # the reports, by residents' numbers as the registry knows them: through the ledger
    from osmanthus.synthetic import generate_city

    spec = CitySpec(residents=residents, as_of=AS_OF)
    registry = Actor("department", "civil-registry")
    ledger = _ledger(url, AS_OF)
    chunk = next(generate_city(spec, ledger.policy.latest))
    for k, number in enumerate(chunk.people.national_id.tolist()[: len(ids)]):
        ledger.record_profile(
            number,
            "died_on",
            AS_OF - dt.timedelta(days=400),
            department="civil-registry",
            source_ref=f"CR-{k}",
            actor=registry,
        )
    ledger.engine.dispose()


def measure(kind: str, path: Path) -> dict[str, Any]:
    from sqlalchemy import text

    from osmanthus.ledger import migrate, verify_ledger
    from osmanthus.retention import retention_pass

    url = f"sqlite:///{path}"
    day = AS_OF + dt.timedelta(days=1)
    ledger = _ledger(url, day)
    migrate(ledger.engine)  # a city kept from an older schema (untimed)
    if kind == "next":  # the first pass, untimed; then the next day's
        retention_pass(ledger, day)
        ledger.engine.dispose()
        day += dt.timedelta(days=1)
        ledger = _ledger(url, day)
    due: list[int] = []
    if kind == "baseline":  # what is due, untimed
        due = retention_pass(ledger, day, dry_run=True).record_ids
    started, cpu = time.perf_counter(), time.process_time()
    if kind == "baseline":
        with ledger.engine.begin() as conn:
            for start in range(0, len(due), 5_000):
                ids = ",".join(map(str, due[start : start + 5_000]))
                conn.execute(
                    text(
                        "UPDATE records SET source_ref = 'erased-' || id, incident_ref = NULL, "
                        f"reason = NULL WHERE id IN ({ids})"
                    )
                )
        figures: dict[str, Any] = {"records": len(due), "residents": 0}
    else:
        report = retention_pass(ledger, day)
        figures = {
            "records": report.records,
            "residents": sum(report.residents.values()),
            "redacted": report.entries_redacted,
            "skipped": len(report.skipped),
        }
    figures["seconds"] = time.perf_counter() - started
    figures["cpu_seconds"] = time.process_time() - cpu
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if kind == "first":
        started = time.perf_counter()
        verify_ledger(ledger.engine)
        figures["verify_seconds"] = time.perf_counter() - started
    ledger.engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--deaths", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/osmanthus-bench-retention"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.db)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    city = args.work / f"city-{args.residents}.db"
    if not city.exists():  # built under another name, so an interrupted build is not kept
        started = time.perf_counter()
        partial = city.with_suffix(".building")
        partial.unlink(missing_ok=True)
        build(partial, args.residents, args.deaths)
        partial.rename(city)
        print(f"city of {args.residents:,} built in {time.perf_counter() - started:.0f} s")
    results: dict[str, list[dict[str, Any]]] = {}
    kinds = ("first", "next", "baseline")
    for run in range(args.runs):
        for kind in kinds:  # interleaved: each run sees the same load
            copy = args.work / f"run-{kind}.db"
            shutil.copyfile(city, copy)
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    kind,
                    "--db",
                    str(copy),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            results.setdefault(kind, []).append(figures)
            print(f"run {run + 1} {kind:8}: {figures}")
            copy.unlink()
    print(f"medians of {args.runs} runs, {args.residents:,} residents:")
    summary = {}
    for kind in kinds:
        runs = results[kind]
        summary[kind] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "records": runs[0]["records"],
            "residents": runs[0]["residents"],
        }
        print(f"  {kind:8} {summary[kind]}")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    out = out_dir / f"retention-{stamp}.json"
    out.write_text(
        json.dumps({"residents": args.residents, "runs": results, "medians": summary}, indent=2)
    )
    print(  # one line a script can compare runs by: medians
        json.dumps(
            {
                "residents": args.residents,
                "deaths": args.deaths,
                "runs": args.runs,
                **{
                    kind: {k: round(v, 3) if isinstance(v, float) else v for k, v in m.items()}
                    for kind, m in summary.items()
                },
                "first_verify_seconds": round(
                    statistics.median(r["verify_seconds"] for r in results["first"]), 3
                ),
                "first_over_baseline_cpu": round(
                    summary["first"]["cpu_seconds"] / summary["baseline"]["cpu_seconds"], 1
                )
                if summary["baseline"]["cpu_seconds"]
                else None,
                "raw": str(out.relative_to(ROOT)),
            }
        )
    )


if __name__ == "__main__":
    main()
