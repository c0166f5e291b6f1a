"""Benchmark: ``osmanthus backup`` and ``osmanthus restore`` of a synthetic city's ledger.

Builds the city once per database (default 1,000,000 residents with their records,
through the bulk path), then runs backup and restore (``--replace``) as the commands do,
each ``--runs`` times, interleaved, in fresh processes (CPU-seconds from the children's
resource usage). Baselines in the same run: for SQLite, copying the database file with
``cp`` (what a copy without consistency costs); for PostgreSQL, ``pg_dump`` and
``pg_restore`` of the same schema run by hand with the same options. Prints medians; the
restored ledger is checked with ``osmanthus audit verify`` once. The last line printed is
one JSON object of the figures.

    .venv/bin/python bench/backup.py --residents 1000000 --runs 3
    .venv/bin/python bench/backup.py --database-url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cli_startup import timed  # wall and CPU seconds of one command

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "suzhou-example"
AS_OF = dt.date(2026, 11, 1)
KEY = "bench-key-" + "0" * 32
OSMANTHUS = Path(sys.executable).with_name("osmanthus")


def build(url: str, residents: int) -> None:
    from osmanthus.ledger import Actor, Ledger, connect, migrate
    from osmanthus.policy import load_policy
    from osmanthus.synthetic import CitySpec, load_city

    engine = connect(url)
    migrate(engine)
    clock = lambda: dt.datetime.combine(AS_OF, dt.time(12), tzinfo=dt.UTC)  # noqa: E731
    ledger = Ledger(engine, load_policy(POLICY), KEY.encode(), clock=clock)
    ledger.record_key("operator:bench")
    ledger.sync_departments(Actor("operator", "bench"))
    load_city(ledger, CitySpec(residents=residents, as_of=AS_OF))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a SQLite file)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="osmanthus-backup-bench-"))
    url = args.database_url or f"sqlite:///{home / 'ledger.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSMANTHUS_")}
    env.update(OSMANTHUS_DATABASE_URL=url, OSMANTHUS_PSEUDONYM_KEY=KEY)
    started = time.perf_counter()
    build(url, args.residents)
    print(f"built {args.residents:,} residents in {time.perf_counter() - started:.0f} s")
    dest = home / "ledger.backup"
    sqlite = url.startswith("sqlite")
    if sqlite:
        baseline = {"cp": ["cp", str(home / "ledger.db"), str(home / "copy.db")]}
    else:
        from sqlalchemy.engine import make_url

        libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        baseline = {
            "pg_dump by hand": ["pg_dump", "--format=custom", "--schema=public",
                                f"--file={home / 'hand.dump'}", libpq],
        }  # fmt: skip
    contenders = {
        "osmanthus backup": [str(OSMANTHUS), "backup", str(dest)],
        **baseline,
        "osmanthus restore --replace": [str(OSMANTHUS), "restore", str(dest), "--replace"],
    }
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(args.runs):
        for name, command in contenders.items():
            found[name].append(timed(command, env))
    size = dest.stat().st_size
    database = (home / "ledger.db").stat().st_size if sqlite else None
    verify = timed([str(OSMANTHUS), "audit", "verify"], env)
    print(f"medians of {args.runs} interleaved runs ({args.residents:,} residents):")
    for name, runs in found.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"  {name:30s} {wall:7.2f} s  {cpu:7.2f} CPU-s")
    shown: dict[str, Any] = {"backup file": f"{size / 1e6:,.0f} MB"}
    if database:
        shown["database file"] = f"{database / 1e6:,.0f} MB"
    print("  " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    print(f"  audit verify of the restored ledger: {verify[0]:.1f} s (passed)")
    print(  # one line a script can compare runs by: medians, wall and CPU seconds
        json.dumps(
            {
                "database": "sqlite" if sqlite else "postgresql",
                "residents": args.residents,
                "runs": args.runs,
                **{
                    name: {
                        "wall_s": round(statistics.median(r[0] for r in runs), 3),
                        "cpu_s": round(statistics.median(r[1] for r in runs), 3),
                    }
                    for name, runs in found.items()
                },
                "backup_bytes": size,
                "database_bytes": database,
                "verify_s": round(verify[0], 3),
                "verify_cpu_s": round(verify[1], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
