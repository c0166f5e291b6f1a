"""The floor under any intake into SQLite: the database alone writing the rows.

On a ledger migrated by Osmanthus (the same ``records`` table with its primary key, its
unique (department, source_ref) index, its resident index and its partial incident index)
holding ``--residents`` residents, one SQL statement generates and inserts ``--rows``
records (random residents, sequential source references, one department) in one
transaction with the ledger's pragmas, with no Python per row, no file, no validation
and no pseudonyms. Whatever intake does on top, it cannot be faster than this. The last
line printed is one JSON object of the figures.

    .venv/bin/python bench/sqlite_floor.py --rows 10000000 --residents 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from osmanthus.ledger import connect, migrate


def make_ledger(folder: Path, residents: int) -> Path:
    """A migrated ledger with ``residents`` residents (pseudonyms are random hex here)."""
    path = folder / "floor.db"
    engine = connect(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "INSERT INTO departments (id, code, name, registered_at) "
        "VALUES (1, 'tp', 'tp', '2026-01-01')"
    )
    db.execute("BEGIN")
    db.execute(
        f"""WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {residents})
        INSERT INTO residents (id, pseudonym, district, birth_year, registered_at)
        SELECT i, lower(hex(randomblob(32))), 'gusu', 1980, '2026-01-01' FROM s"""
    )
    db.execute("COMMIT")
    db.close()
    return path


def insert_rows(path: Path, rows: int, residents: int, sort: bool) -> float:
    """Seconds to insert ``rows`` generated records in one durable transaction."""
    copy = path.with_name("run.db")
    copy.write_bytes(path.read_bytes())
    db = sqlite3.connect(copy, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "foreign_keys=OFF",
        "cache_size=-262144",
        "temp_store=MEMORY",
    ):
        db.execute(f"PRAGMA {pragma}")
    order = "ORDER BY resident_id" if sort else ""
    started = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        f"""WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows})
        INSERT INTO records (resident_id, department_id, metric, value, act_date,
                             decision_date, recorded_at, source_ref, kind, batch_id)
        SELECT resident_id, 1, 'failure_to_yield', 1.0, '2026-06-01', '2026-06-03',
               '2026-11-28 00:00:00.000000', printf('FLOOR-%010d', i), 'original', 'floor'
        FROM (SELECT i, abs(random() % {residents}) + 1 AS resident_id FROM s) {order}"""
    )
    db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    copy.unlink()
    for suffix in ("-wal", "-shm"):
        copy.with_name(copy.name + suffix).unlink(missing_ok=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="osmanthus-floor-") as folder:
        path = make_ledger(Path(folder), args.residents)
        for sort in (False, True):
            times = [insert_rows(path, args.rows, args.residents, sort) for _ in range(args.runs)]
            median = statistics.median(times)
            figures["sorted" if sort else "file_order"] = {
                "median_s": round(median, 3),
                "rows_per_s": round(args.rows / median),
                "runs_s": [round(t, 3) for t in times],
            }
            label = "sorted by resident" if sort else "in file order"
            print(
                f"SQLite {sqlite3.sqlite_version}, {args.rows:,} rows {label} into records "
                f"({args.residents:,} residents): median {median:.1f} s = "
                f"{args.rows / median:,.0f} rows/s (runs: {', '.join(f'{t:.1f}' for t in times)})"
            )
    print(  # one line a script can compare runs by
        json.dumps(
            {
                "sqlite": sqlite3.sqlite_version,
                "rows": args.rows,
                "residents": args.residents,
                "runs": args.runs,
                **figures,
            }
        )
    )


if __name__ == "__main__":
    main()
