"""Benchmark: a department's batch file through ``osmanthus.intake.submit_batch``.

What is measured, in one run and on the same generated data:

- **ours**: ``submit_batch(ledger, path, department="traffic-police", ...)`` on a batch of
  ``--rows`` rows (default 10,000,000) as Parquet and as CSV into SQLite, and as Parquet
  into PostgreSQL (COPY). The timed span is the call alone: fingerprint the file, read it
  in chunks, validate every row column by column, pseudonymise, write, commit.
- **same size**: ``submit_batch`` on a CSV of the first ``--baseline-rows`` rows, so the
  baseline can also be compared at the size it runs at.
- **baseline**: the plain approach a user would otherwise take on the first
  ``--baseline-rows`` rows (default 200,000) of the same CSV: the ``csv`` module, each
  row checked in Python with the library's scalar checks (``identity.validate``,
  ``date.fromisoformat``, ``policy.in_force(act).check_report``), a pseudonym and a
  ``SELECT`` of the resident per row, and one ``executemany`` INSERT into ``records`` at
  the end, all in one transaction (on the driver connection, with the ledger's pragmas).
- **bare**: the database alone taking all ``--rows`` rows of the Parquet batch
  ready-made (every column computed beforehand, untimed), one ``executemany`` (SQLite)
  or ``COPY`` (PostgreSQL) a 200,000-row chunk into the same ``records`` table, indexes
  and triggers, one transaction. The ceiling for intake through this schema; target
  (issue 19): ours at least 0.7 of it.

Set-up is not timed: a ledger is migrated, its departments synced and ``--residents``
residents (default 1,000,000) registered through ``bulk_load``; the batch files are
generated in chunks with numpy and pyarrow (bounded memory). Every timed run is its own
subprocess on a fresh ledger (a copy of the SQLite file; a fresh PostgreSQL schema, dropped
afterwards), so its peak RSS (``VmHWM``, which includes the interpreter and imports) is
its own. Every run checks that the batch was committed with ``accepted == rows`` and
that ``records`` holds them. The batch file and the ledger copy are in the page cache (a
warm start). Reported: the median of ``--runs`` runs; raw figures go to
bench/results/intake-<stamp>.json, and the last line printed is one JSON object of the
medians and ratios.

    .venv/bin/python bench/intake.py                       # 10M rows, 1M residents, 3 runs
    .venv/bin/python bench/intake.py --rows 200000 --residents 100000 --runs 1 --skip-pg
    .venv/bin/python bench/intake.py --rows 1000000 --runs 1 --skip-pg --profile
    .venv/bin/python bench/intake.py --rows 1000000 --runs 3 \
        --only parquet-sqlite,bare-sqlite,parquet-pg,bare-pg
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import os
import platform
import pstats
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "suzhou-example"
KEY = b"bench-key-" + b"0" * 32
NOW = dt.datetime(2026, 12, 31, 12, 0, tzinfo=dt.UTC)  # the ledger's fixed clock
DEPARTMENT = "traffic-police"
ACTOR = ("department", "bench")
#: Metrics traffic-police reports under policies/suzhou-example (each worth 1 per act).
METRICS = ("failure_to_yield", "running_red_light", "drunk_driving")
METRIC_SHARES = (0.55, 0.35, 0.10)
FIRST_ACT = np.datetime64("2025-01-01", "D")
ACT_DAYS = 700  # acts from 2025-01-01 to 2026-12-01; decisions 0 to 29 days later
HEADER = ("national_id", "metric", "act_date", "decision_date", "source_ref", "value")
GEN_CHUNK = 1_000_000  # rows generated (and written) at a time
RESIDENT_CHUNK = 100_000  # residents per bulk_load call
BIRTH_DAYS = 21_900  # birth dates from 1945-01-01, about 60 years
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_ROWS_PER_S = 300_000
TARGET_RSS_MB = 2048  # MiB: "under 2 GB" read as 2 GiB; the JSON has the exact peaks
# bytes per row for the disk check: files as measured (74 and 17), a ledger with its WAL
CSV_BYTES, PARQUET_BYTES, LEDGER_BYTES = 80, 20, 400

KINDS: dict[str, str] = {
    "parquet-sqlite": "submit_batch, Parquet → SQLite",
    "csv-sqlite": "submit_batch, CSV → SQLite",
    "head-sqlite": "submit_batch, CSV → SQLite, first B rows",
    "baseline-sqlite": "baseline (csv + per-row checks + executemany) → SQLite, first B rows",
    "parquet-pg": "submit_batch, Parquet → PostgreSQL (COPY)",
    "head-pg": "submit_batch, CSV → PostgreSQL, first B rows",
    "baseline-pg": "baseline (csv + per-row checks + executemany) → PostgreSQL, first B rows",
    "bare-sqlite": "bare executemany of the same rows, ready-made → SQLite",
    "bare-pg": "bare COPY of the same rows, ready-made → PostgreSQL",
}
#: Rows handed to the database at a time by the bare baselines (as submit_batch's chunks).
BARE_CHUNK = 200_000


# -- data -----------------------------------------------------------------------------


def national_ids(count: int) -> npt.NDArray[np.bytes_]:
    """``count`` distinct valid national ID numbers as 18-byte strings (vectorised)."""
    from osmanthus.identity import CHECK_CHARACTERS, WEIGHTS
    from osmanthus.synthetic.city import DISTRICTS

    areas = np.array([d[0] for d in DISTRICTS], dtype=np.int64)
    i = np.arange(count, dtype=np.int64)
    born = np.datetime64("1945-01-01", "D") + (i // len(areas)) % BIRTH_DAYS
    year = born.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (born.astype("datetime64[M]") - born.astype("datetime64[Y]")).astype(np.int64) + 1
    day = (born - born.astype("datetime64[M]")).astype(np.int64) + 1
    sequence = i // (len(areas) * BIRTH_DAYS)  # distinct (area, birth date, sequence)
    body = areas[i % len(areas)] * 10**11 + (year * 10000 + month * 100 + day) * 1000 + sequence
    digits = (body[:, None] // 10 ** np.arange(16, -1, -1, dtype=np.int64)) % 10
    checks = np.frombuffer(CHECK_CHARACTERS.encode(), dtype=np.uint8)
    codes = np.empty((count, 18), dtype=np.uint8)
    codes[:, :17] = digits + ord("0")
    codes[:, 17] = checks[(digits * WEIGHTS).sum(axis=1) % 11]
    return codes.view("S18").ravel()


def districts(count: int) -> npt.NDArray[np.str_]:
    """The district of each resident of :func:`national_ids` (its area's name)."""
    from osmanthus.synthetic.city import DISTRICTS

    names = np.array([d[1] for d in DISTRICTS])
    return names[np.arange(count) % len(names)]


def arrow_strings(fixed: npt.NDArray[np.bytes_]) -> pa.Array:
    """A fixed-width byte-string array as an Arrow string array (no Python object per row)."""
    width, n = fixed.dtype.itemsize, fixed.shape[0]
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(fixed).view(np.uint8)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def batch_chunks(rows: int, ids: pa.Array, seed: int) -> Iterator[pa.Table]:
    """The batch, ``GEN_CHUNK`` rows at a time: random registered residents, the three
    traffic metrics, acts in 2025-2026, unique source references ``TP-0000000001``..."""
    for index, start in enumerate(range(0, rows, GEN_CHUNK)):
        n = min(GEN_CHUNK, rows - start)
        rng = np.random.default_rng([seed, index])
        who = rng.integers(0, len(ids), n)
        metric = rng.choice(len(METRICS), n, p=METRIC_SHARES)
        act = FIRST_ACT + rng.integers(0, ACT_DAYS, n)
        decision = act + rng.integers(0, 30, n)
        number = pc.cast(pa.array(np.arange(start + 1, start + n + 1)), pa.string())
        yield pa.table(
            {
                "national_id": ids.take(pa.array(who)),
                "metric": pa.array(METRICS).take(pa.array(metric)),
                "act_date": pa.array(act),
                "decision_date": pa.array(decision),
                "source_ref": pc.binary_join_element_wise("TP-", pc.utf8_lpad(number, 10, "0"), ""),
                "value": pa.array(np.ones(n)),
            }
        )


class _CsvFile:
    """A CSV file as a spreadsheet writes it: a plain header line, nothing quoted."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.sink = pa.OSFile(str(path), "wb")
        self.sink.write((",".join(schema.names) + "\n").encode())
        options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
        self.writer = pa_csv.CSVWriter(self.sink, schema, write_options=options)

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()
        self.sink.close()


def write_batch_files(
    folder: Path, rows: int, head_rows: int, ids: pa.Array, seed: int
) -> dict[str, Path]:
    """Write the batch as Parquet (typed: dates as date32, value as double) and as CSV,
    and the first ``head_rows`` rows as a CSV of their own."""
    paths = {
        "parquet": folder / "batch.parquet",
        "csv": folder / "batch.csv",
        "head": folder / "batch-head.csv",
    }
    parquet: pq.ParquetWriter | None = None
    csv_file: _CsvFile | None = None
    head: _CsvFile | None = None
    start = 0
    for table in batch_chunks(rows, ids, seed):
        if parquet is None:
            parquet = pq.ParquetWriter(paths["parquet"], table.schema)
            csv_file = _CsvFile(paths["csv"], table.schema)
            head = _CsvFile(paths["head"], table.schema)
        assert csv_file is not None and head is not None
        parquet.write_table(table, row_group_size=GEN_CHUNK)
        csv_file.write(table)
        if start < head_rows:
            head.write(table.slice(0, head_rows - start))
        start += table.num_rows
    for writer in (parquet, csv_file, head):
        if writer is not None:
            writer.close()
    return paths


# -- ledgers --------------------------------------------------------------------------


def open_ledger(url: str) -> Any:
    """The ledger at ``url`` with the example policy, the bench key and a fixed clock."""
    from osmanthus.ledger import Ledger, connect
    from osmanthus.policy import load_policy

    return Ledger(connect(url), load_policy(POLICY), KEY, clock=lambda: NOW)


def set_up_ledger(url: str, ids: npt.NDArray[np.bytes_]) -> None:
    """Migrate, sync the departments and register every resident through ``bulk_load``."""
    from osmanthus.ledger import Actor, RecordBatch, ResidentBatch, bulk_load, migrate

    ledger = open_ledger(url)
    migrate(ledger.engine)
    actor = Actor("operator", "bench")
    ledger.sync_departments(actor)
    names = districts(len(ids))
    no_records = RecordBatch(
        resident=np.empty(0, dtype=np.int64),
        department=np.empty(0, dtype=str),
        metric=np.empty(0, dtype=str),
        value=np.empty(0),
        act_date=np.empty(0, dtype="datetime64[D]"),
        decision_date=np.empty(0, dtype="datetime64[D]"),
        source_ref=np.empty(0, dtype=str),
    )
    for start in range(0, len(ids), RESIDENT_CHUNK):
        people = ResidentBatch(
            national_id=ids[start : start + RESIDENT_CHUNK].astype("U18"),
            district=names[start : start + RESIDENT_CHUNK],
        )
        bulk_load(ledger, people, no_records, actor=actor, batch_id=f"residents-{start}")
    ledger.engine.dispose()
    if ledger.engine.dialect.name == "sqlite":  # one self-contained file, to be copied
        database = ledger.engine.url.database
        conn = sqlite3.connect(str(database))
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        wal = Path(f"{database}-wal")
        if wal.exists() and wal.stat().st_size:
            raise SystemExit(f"{database}: the WAL was not checkpointed")


class Postgres:
    """Fresh schemas in the PostgreSQL database at ``url``, each dropped on request."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        self.tag = uuid.uuid4().hex[:8]
        self.count = 0

    def create(self) -> tuple[str, str]:
        self.count += 1
        schema = f"bench_intake_{self.tag}_{self.count}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        joiner = "&" if "?" in self.url else "?"
        return schema, f"{self.url}{joiner}options=-csearch_path%3D{schema}"

    def analyze(self, schema: str) -> None:
        """VACUUM ANALYZE the residents, as autovacuum would have on a settled ledger."""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {schema}.residents")

    def drop(self, schema: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    def version(self) -> str:
        with self.admin.connect() as conn:
            return str(conn.exec_driver_sql("SHOW server_version").scalar_one())


# -- the timed children ---------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set size (MiB) since it started.

    Read from ``VmHWM`` (Linux): ``ru_maxrss`` of a spawned child starts at the parent's
    RSS at the time of the spawn, so it would count the parent's memory too.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batch_records(ledger: Any, batch_id: str) -> int:
    with ledger.engine.connect() as conn:
        query = sa.text("SELECT count(*) FROM records WHERE batch_id = :b")
        return int(conn.execute(query, {"b": batch_id}).scalar_one())


def child_submit(args: argparse.Namespace) -> dict[str, Any]:
    """Time ``submit_batch`` on a fresh ledger; check it committed every row."""
    from osmanthus.intake import submit_batch
    from osmanthus.ledger import Actor

    source = src_fingerprint()  # the code this process imports
    ledger = open_ledger(args.url)
    path = Path(args.file)
    before = peak_rss_mb()
    profiler = cProfile.Profile() if args.profile_to else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    outcome = submit_batch(
        ledger, path, department=DEPARTMENT, actor=Actor(*ACTOR), batch_id=args.batch_id
    )
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    if profiler is not None:
        profiler.dump_stats(args.profile_to)
    stored = batch_records(ledger, args.batch_id)
    ok = outcome.status == "committed" and outcome.accepted == args.expect == stored
    if not ok:
        problems = [f"row {p.row} {p.field}: {p.reason}" for p in outcome.problems[:5]]
        raise SystemExit(
            f"{path.name}: expected {args.expect:,} rows committed, found status "
            f"{outcome.status}, accepted {outcome.accepted:,}, stored {stored:,}: {problems}"
        )
    ledger.engine.dispose()
    return {
        "rows": outcome.rows,
        "accepted": outcome.accepted,
        "status": outcome.status,
        "seconds": seconds,
        "peak_rss_mb": peak,
        "rss_before_mb": before,
        "src_sha256": source,
    }


def child_baseline(args: argparse.Namespace) -> dict[str, Any]:
    """Time the plain approach on the first ``args.expect`` rows of a CSV batch."""
    from osmanthus.errors import OsmanthusError, ValidationError
    from osmanthus.identity import pseudonym, validate

    source = src_fingerprint()
    ledger = open_ledger(args.url)
    policy, today = ledger.policy, ledger.today()
    postgres = ledger.engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    stamp: object = NOW if postgres else NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    columns = (
        "resident_id, department_id, metric, value, act_date, decision_date, recorded_at, "
        "source_ref, incident_ref, kind, batch_id, severity"
    )
    insert = f"INSERT INTO records ({columns}) VALUES ({', '.join([mark] * 12)})"
    lookup = f"SELECT id FROM residents WHERE pseudonym = {mark}"
    raw = ledger.engine.raw_connection()  # the driver connection, with the ledger's pragmas
    before = peak_rss_mb()
    started = time.perf_counter()
    cursor = raw.cursor()
    if not postgres:
        cursor.execute("BEGIN IMMEDIATE")
    cursor.execute(f"SELECT id FROM departments WHERE code = {mark}", (DEPARTMENT,))
    department_id = cursor.fetchone()[0]
    rows: list[tuple[Any, ...]] = []
    problems: list[tuple[int, str]] = []
    seen: set[str] = set()
    with open(args.file, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        field = {name.strip(): i for i, name in enumerate(next(reader))}
        at = [field[name] for name in HEADER]
        for number, fields in enumerate(itertools.islice(reader, args.expect), start=1):
            raw_id, metric, raw_act, raw_decision, ref, raw_value = (fields[i] for i in at)
            try:
                national_id = validate(raw_id, today=today)
                act = dt.date.fromisoformat(raw_act.strip())
                decision = dt.date.fromisoformat(raw_decision.strip())
                if act > today or decision > today or decision < act:
                    raise ValidationError("act or decision date in the future or out of order")
                value = float(raw_value) if raw_value.strip() else 1.0
                policy.in_force(act).check_report(DEPARTMENT, metric.strip(), value, act, None)
                if not ref.strip() or len(ref) > 128 or "\x00" in ref or ref in seen:
                    raise ValidationError("source_ref empty, too long or repeated")
                seen.add(ref)
                cursor.execute(lookup, (pseudonym(KEY, national_id),))
                found = cursor.fetchone()
                if found is None:
                    raise ValidationError("no registered resident has this national ID")
            except (OsmanthusError, ValueError) as exc:
                problems.append((number, str(exc)))
                continue
            act_value: object = act if postgres else act.isoformat()
            decision_value: object = decision if postgres else decision.isoformat()
            rows.append(
                (
                    found[0],
                    department_id,
                    metric.strip(),
                    value,
                    act_value,
                    decision_value,
                    stamp,
                    ref,
                    None,
                    "original",
                    args.batch_id,
                    None,
                )
            )
    if problems:
        raw.rollback() if postgres else cursor.execute("ROLLBACK")
        raise SystemExit(f"baseline refused {len(problems):,} rows, first: {problems[0]}")
    cursor.executemany(insert, rows)
    return committed("baseline", ledger, raw, args, len(rows), started, before, source)


def committed(
    kind: str,
    ledger: Any,
    raw: Any,
    args: argparse.Namespace,
    rows: int,
    started: float,
    before: float,
    source: str,
) -> dict[str, Any]:
    """Commit a driver-level child's transaction, stop its clock, check that the batch's
    ``args.expect`` rows are stored, and return its figures."""
    if ledger.engine.dialect.name == "postgresql":
        raw.commit()
    else:
        raw.cursor().execute("COMMIT")
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    raw.close()
    stored = batch_records(ledger, args.batch_id)
    if stored != args.expect:
        raise SystemExit(f"{kind}: expected {args.expect:,} rows stored, found {stored:,}")
    ledger.engine.dispose()
    return {
        "rows": rows,
        "accepted": stored,
        "status": "committed",
        "seconds": seconds,
        "peak_rss_mb": peak,
        "rss_before_mb": before,
        "src_sha256": source,
    }


def child_bare(args: argparse.Namespace) -> dict[str, Any]:
    """Time the database alone taking the rows of a Parquet batch, ready-made: every
    ``records`` column computed beforehand (resident ids looked up, dates and stamps as
    the driver takes them), then one ``executemany`` (SQLite) or ``COPY`` (PostgreSQL) a
    chunk into the same table with its indexes and triggers, one transaction, committed.
    Only the database's calls are timed: no file, no checks, no pseudonyms, no ids, no
    audit, no digests. The ceiling for intake through this schema."""
    from osmanthus.identity.columns import pseudonym_column

    source = src_fingerprint()
    ledger = open_ledger(args.url)
    postgres = ledger.engine.dialect.name == "postgresql"
    raw = ledger.engine.raw_connection()  # the driver connection, with the ledger's pragmas
    cursor = raw.cursor()
    cursor.execute("SELECT id, pseudonym FROM residents")
    registered = cursor.fetchall()
    cursor.execute(
        "SELECT id FROM departments WHERE code = " + ("%s" if postgres else "?"), (DEPARTMENT,)
    )
    department_id = cursor.fetchone()[0]
    if postgres:
        raw.commit()
    known = pa.array([p for _, p in registered])
    ids = pa.array([i for i, _ in registered], pa.int64())
    del registered
    batch = pq.read_table(args.file)
    where = pc.index_in(pseudonym_column(KEY, batch.column("national_id")), value_set=known)
    if where.null_count:
        raise SystemExit(f"bare: {where.null_count:,} rows name no registered resident")
    n = batch.num_rows
    stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.%f") + ("+00" if postgres else "")
    day = pa.string()
    columns = {
        "resident_id": ids.take(where),
        "department_id": pa.array(np.full(n, department_id, dtype=np.int64)),
        "metric": batch.column("metric"),
        "value": batch.column("value"),
        "act_date": pc.cast(batch.column("act_date"), day),
        "decision_date": pc.cast(batch.column("decision_date"), day),
        "recorded_at": pa.array([stamp] * n, day) if n else pa.array([], day),
        "source_ref": batch.column("source_ref"),
        "kind": pa.array(["original"] * n, day),
        "batch_id": pa.array([args.batch_id] * n, day),
    }
    ready = pa.table(columns)
    del batch, columns
    names = ", ".join(ready.column_names)
    insert = f"INSERT INTO records ({names}) VALUES ({', '.join('?' for _ in ready.column_names)})"
    chunks: list[Any] = []
    for start in range(0, n, BARE_CHUNK):
        part = ready.slice(start, BARE_CHUNK)
        if postgres:
            buffer = io.BytesIO()
            pa_csv.write_csv(part, buffer, write_options=pa_csv.WriteOptions(include_header=False))
            chunks.append(buffer.getvalue())
        else:
            chunks.append(list(zip(*(c.to_pylist() for c in part.columns), strict=True)))
    del ready
    before = peak_rss_mb()
    started = time.perf_counter()
    if not postgres:
        cursor.execute("BEGIN IMMEDIATE")
    for chunk in chunks:
        if postgres:
            with cursor.copy(f"COPY records ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(chunk)
        else:
            cursor.executemany(insert, chunk)
    return committed("bare", ledger, raw, args, n, started, before, source)


def run_child(kind: str, url: str, path: Path, rows: int, profile: Path | None = None) -> Any:
    """Run one measurement in its own process; return its figures."""
    batch_id = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
    child = next((name for name in ("baseline", "bare") if name in kind), "submit")
    command = [sys.executable, __file__, "--child", child]
    command += ["--url", url, "--file", str(path), "--batch-id", batch_id, "--expect", str(rows)]
    if profile is not None:
        command += ["--profile-to", str(profile)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind}: the child failed ({done.returncode}):\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = time.perf_counter() - started
    figures["rows_per_s"] = figures["rows"] / figures["seconds"]
    return figures


# -- the parent -----------------------------------------------------------------------


def machine(pg_version: str | None) -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb

    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(memory, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg_version,
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "duckdb": duckdb.__version__,
        "sqlalchemy": sa.__version__,
    }


def src_fingerprint() -> str:
    """A fingerprint of the osmanthus package this process imports (src/ is edited while
    benchmarks run; PYTHONPATH may point at a snapshot)."""
    import osmanthus

    package = Path(osmanthus.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def source_state() -> dict[str, str]:
    """The repository's commit, whether its src/ has uncommitted changes, and the imported
    package's path and fingerprint."""
    import osmanthus

    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True, text=True)
    return {
        "commit": head.stdout.strip(),
        "src_modified": str(bool(dirty.stdout.strip())).lower(),
        "package": str(Path(osmanthus.__file__).parent),
        "src_sha256": src_fingerprint(),
    }


def check_disk(folder: Path, rows: int, residents: int, keep: bool, runs: int) -> None:
    copies = 2 * runs + 2 if keep else 2  # a run's ledger (plus its WAL) at a time
    needed = rows * (CSV_BYTES + PARQUET_BYTES) + copies * (rows * LEDGER_BYTES + residents * 300)
    free = shutil.disk_usage(folder).free
    print(
        f"temporary files in {folder}: about {needed / 2**30:.1f} GiB needed, "
        f"{free / 2**30:.1f} GiB free",
        flush=True,
    )
    if needed > free * 0.9:
        raise SystemExit(f"not enough disk in {folder}: use --tmp-dir or fewer --rows")


def profile_summary(path: Path, top: int = 15) -> dict[str, Any]:
    """The top functions by own time and the time of each phase of submit_batch."""
    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]
    total = max(ct for (_, _, tt, ct, _) in entries.values())

    def name(key: tuple[str, int, str]) -> str:
        file, line, func = key
        if file == "~":
            return func
        parts = Path(file).parts
        short = "/".join(
            parts[parts.index("site-packages") + 1 :] if "site-packages" in parts else parts[-2:]
        )
        return f"{short}:{line}({func})"

    by_own = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    phases = {
        "file_sha256": ("readers.py", "file_sha256"),
        "read chunks (incl. cast to text)": ("readers.py", "chunks"),
        "validate_batch": ("validate.py", "validate_batch"),
        "pseudonym_column (DuckDB)": ("pseudonym.py", "pseudonym_column"),
        "writer: _stage_table": ("writer.py", "_stage_table"),
        "writer: _fill (stage insert)": ("writer.py", "_fill"),
        "writer: write (all)": ("writer.py", "write"),
        "commit": ("base.py", "_commit_impl"),
    }
    found = {}
    for label, (file, func) in phases.items():
        times = [v[3] for k, v in entries.items() if k[0].endswith(file) and k[2] == func]
        if times:
            found[label] = max(times)
    return {
        "total_seconds": total,
        "top_own_time": [
            {"function": name(k), "calls": v[1], "own_s": v[2], "cumulative_s": v[3]}
            for k, v in by_own
        ],
        "phases_cumulative_s": found,
    }


def summarise(results: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    summary = {}
    for kind, runs in results.items():
        if runs:
            summary[kind] = {
                "label": KINDS[kind],
                "runs": len(runs),
                "rows": runs[0]["rows"],
                "rows_per_s": statistics.median(r["rows_per_s"] for r in runs),
                "seconds": statistics.median(r["seconds"] for r in runs),
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
                "max_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            }
    return summary


def ratios(summary: dict[str, dict[str, Any]]) -> dict[str, float]:
    pairs = {
        "parquet-sqlite / baseline-sqlite": ("parquet-sqlite", "baseline-sqlite"),
        "csv-sqlite / baseline-sqlite": ("csv-sqlite", "baseline-sqlite"),
        "head-sqlite / baseline-sqlite (same rows)": ("head-sqlite", "baseline-sqlite"),
        "parquet-pg / baseline-pg": ("parquet-pg", "baseline-pg"),
        "parquet-sqlite / bare-sqlite (target >= 0.7)": ("parquet-sqlite", "bare-sqlite"),
        "parquet-pg / bare-pg (target >= 0.7)": ("parquet-pg", "bare-pg"),
        "head-pg / baseline-pg (same rows)": ("head-pg", "baseline-pg"),
    }
    return {
        label: summary[ours]["rows_per_s"] / summary[base]["rows_per_s"]
        for label, (ours, base) in pairs.items()
        if ours in summary and base in summary
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| measurement | rows | rows/s (median) | seconds (median) | peak RSS MiB (median, max) |"
        " runs |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for figures in report["summary"].values():
        lines.append(
            f"| {figures['label']} | {figures['rows']:,} | {figures['rows_per_s']:,.0f} | "
            f"{figures['seconds']:,.1f} | {figures['peak_rss_mb']:,.0f} "
            f"({figures['max_peak_rss_mb']:,.0f}) | {figures['runs']} |"
        )
    lines.append("")
    for label, ratio in report["ratios"].items():
        lines.append(f"- ratio {label}: {ratio:,.2f}×")
    m = report["machine"]
    lines.append(
        f"- machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Python "
        f"{m['python']}, SQLite {m['sqlite']}, PostgreSQL {m['postgresql'] or '-'}, "
        f"pyarrow {m['pyarrow']}, numpy {m['numpy']}, DuckDB {m['duckdb']}"
    )
    s = report["source"]
    lines.append(
        f"- code: package {s['package']}, fingerprint of the runs {s['src_sha256_used']} "
        f"(repository HEAD {s['commit']}, src/ modified: {s['src_modified']})"
        + (" — WARNING: src/ changed during the benchmark" if "," in s["src_sha256_used"] else "")
    )
    target = report["summary"].get("parquet-sqlite")
    if target:
        met = target["rows_per_s"] >= TARGET_ROWS_PER_S
        lines.append(
            f"- target Parquet → SQLite >= {TARGET_ROWS_PER_S:,} rows/s: "
            f"{'met' if met else 'NOT met'} ({target['rows_per_s']:,.0f})"
        )
    for kind in ("parquet-sqlite", "csv-sqlite", "parquet-pg"):
        figures = report["summary"].get(kind)
        if figures:
            peak, limit = figures["max_peak_rss_mb"], TARGET_RSS_MB
            lines.append(
                f"- peak RSS of {kind} < {limit:,} MiB (2 GiB): "
                f"{'met' if peak < limit else 'NOT met'} ({peak:,.0f} MiB at most)"
            )
    profile = report.get("profile")
    if profile:
        lines += [
            "",
            f"Profile ({profile['rows']:,} rows, Parquet → SQLite, cProfile; "
            f"{profile['total_seconds']:.1f} s under the profiler):",
            "",
            "| function | calls | own s | cumulative s |",
            "| --- | ---: | ---: | ---: |",
        ]
        for entry in profile["top_own_time"]:
            lines.append(
                f"| `{entry['function']}` | {entry['calls']:,} | {entry['own_s']:.2f} | "
                f"{entry['cumulative_s']:.2f} |"
            )
        lines += ["", "| phase | cumulative s |", "| --- | ---: |"]
        for label, seconds in profile["phases_cumulative_s"].items():
            lines.append(f"| {label} | {seconds:.2f} |")
        lines += [
            "",
            "cProfile sees the calling thread only: work done on another thread (reading and "
            "checking the next chunk, where submit_batch does that) is missing from the phases "
            "and shows as waiting (`acquire` of `_thread.lock`).",
        ]
    return "\n".join(lines)


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    report: dict[str, Any] = {"benchmark": "intake", "command": sys.argv[1:]}
    report["source"] = source_state()
    started = time.perf_counter()
    ids = national_ids(args.residents)
    head_rows = min(args.baseline_rows, args.rows)
    paths = write_batch_files(folder, args.rows, head_rows, arrow_strings(ids), args.seed)
    report["generation"] = {
        "seconds": time.perf_counter() - started,
        "sizes_mb": {kind: path.stat().st_size / 2**20 for kind, path in paths.items()},
    }
    print(
        f"batch files written in {report['generation']['seconds']:.1f} s: "
        + ", ".join(f"{k} {v:,.0f} MiB" for k, v in report["generation"]["sizes_mb"].items()),
        flush=True,
    )
    started = time.perf_counter()
    template = folder / "template.db"
    set_up_ledger(f"sqlite:///{template}", ids)
    print(
        f"SQLite ledger with {args.residents:,} residents set up in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    postgres = None if args.skip_pg else Postgres(args.pg_url)
    sqlite_runs = (
        ("parquet-sqlite", paths["parquet"], args.rows),
        ("csv-sqlite", paths["csv"], args.rows),
        ("head-sqlite", paths["head"], head_rows),
        ("baseline-sqlite", paths["csv"], head_rows),
        ("bare-sqlite", paths["parquet"], args.rows),
    )
    pg_runs = (
        ("parquet-pg", paths["parquet"], args.rows),
        ("head-pg", paths["head"], head_rows),
        ("baseline-pg", paths["csv"], head_rows),
        ("bare-pg", paths["parquet"], args.rows),
    )
    if args.only:
        sqlite_runs = tuple(r for r in sqlite_runs if r[0] in args.only)
        pg_runs = tuple(r for r in pg_runs if r[0] in args.only)
    for run in range(args.runs):
        for kind, path, rows in sqlite_runs:
            database = folder / f"{kind}-{run}.db"
            shutil.copyfile(template, database)
            figures = run_child(kind, f"sqlite:///{database}", path, rows)
            results[kind].append(figures)
            report_run(run, kind, figures)
            if not args.keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{database}{suffix}").unlink(missing_ok=True)
        if postgres is None:
            continue
        for kind, path, rows in pg_runs:
            schema, url = postgres.create()
            try:
                set_up_ledger(url, ids)
                postgres.analyze(schema)
                figures = run_child(kind, url, path, rows)
            finally:
                if not args.keep:
                    postgres.drop(schema)
            results[kind].append(figures)
            report_run(run, kind, figures)
    if args.profile:
        database = folder / "profile.db"
        shutil.copyfile(template, database)
        stats = folder / "submit.prof"
        figures = run_child(
            "parquet-sqlite", f"sqlite:///{database}", paths["parquet"], args.rows, profile=stats
        )
        report["profile"] = {"rows": args.rows, **profile_summary(stats)}
        report["profile"]["unprofiled_equivalent_s"] = statistics.median(
            r["seconds"] for r in results["parquet-sqlite"]
        )
        if args.keep:
            print(f"profile kept at {stats} (python -m pstats {stats})")
    report["machine"] = machine(postgres.version() if postgres else None)
    used = sorted({r["src_sha256"] for runs in results.values() for r in runs})
    report["source"]["src_sha256_used"] = ", ".join(used)  # more than one: src changed
    report["parameters"] = {
        "rows": args.rows,
        "residents": args.residents,
        "runs": args.runs,
        "baseline_rows": head_rows,
        "seed": args.seed,
        "department": DEPARTMENT,
        "metrics": METRICS,
        "ledger_clock": NOW.isoformat(),
    }
    report["runs"] = {kind: runs for kind, runs in results.items() if runs}
    report["summary"] = summarise(results)
    report["ratios"] = ratios(report["summary"])
    return report


def report_run(run: int, kind: str, figures: dict[str, Any]) -> None:
    print(
        f"run {run + 1} {kind:16}: {figures['rows']:,} rows in {figures['seconds']:.1f} s = "
        f"{figures['rows_per_s']:,.0f} rows/s, peak RSS {figures['peak_rss_mb']:,.0f} MiB "
        f"(before the call {figures['rss_before_mb']:,.0f} MiB)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in the batch")
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-rows", type=int, default=200_000)
    parser.add_argument("--skip-pg", action="store_true", help="SQLite only")
    parser.add_argument("--keep", action="store_true", help="keep temp files and PG schemas")
    parser.add_argument(
        "--profile", action="store_true", help="also profile one Parquet → SQLite run (cProfile)"
    )
    parser.add_argument(
        "--only",
        type=lambda names: names.split(","),
        help=f"measure only these, comma-separated: {', '.join(KINDS)}",
    )
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--tmp-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--child", choices=["submit", "baseline", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--batch-id", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        children = {"submit": child_submit, "baseline": child_baseline, "bare": child_bare}
        figures = children[args.child](args)
        print(json.dumps(figures))
        return
    check_disk(args.tmp_dir, args.rows, args.residents, args.keep, args.runs)
    folder = Path(tempfile.mkdtemp(prefix="osmanthus-bench-intake-", dir=args.tmp_dir))
    try:
        report = measure(args, folder)
    finally:
        if args.keep:
            print(f"temporary files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    stamp = dt.datetime.now(dt.UTC)
    report["date"] = stamp.isoformat(timespec="seconds")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"intake-{stamp:%Y-%m-%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print()
    print(markdown(report))
    print(f"\nraw figures: {out.relative_to(ROOT)}")
    print(json.dumps(figures_line(report, out)))  # one line a script can compare runs by


def figures_line(report: dict[str, Any], out: Path) -> dict[str, Any]:
    """The figures of a report for one line of JSON: parameters, medians, ratios."""

    def rounded(value: float) -> float:
        return round(value, 3)

    figures: dict[str, Any] = {
        **{
            k: report["parameters"][k]
            for k in ("rows", "residents", "runs", "baseline_rows", "seed")
        },
        **{
            kind: {
                "rows": found["rows"],
                "rows_per_s": round(found["rows_per_s"]),
                "seconds": rounded(found["seconds"]),
                "peak_rss_mb": round(found["peak_rss_mb"], 1),
                "max_peak_rss_mb": round(found["max_peak_rss_mb"], 1),
            }
            for kind, found in report["summary"].items()
        },
        "ratios": {label: rounded(ratio) for label, ratio in report["ratios"].items()},
        "commit": report["source"]["commit"],
        "src_sha256": report["source"]["src_sha256_used"],
        "raw": str(out.relative_to(ROOT)),
    }
    profile = report.get("profile")
    if profile:
        figures["profile"] = {
            "total_seconds": rounded(profile["total_seconds"]),
            "phases_cumulative_s": {
                k: rounded(v) for k, v in profile["phases_cumulative_s"].items()
            },
        }
    return figures


if __name__ == "__main__":
    main()
