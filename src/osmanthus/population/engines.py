"""The two engines: each reads the lake bucket by bucket and runs the kernel on it.

Neither engine holds any scoring rule: the default engine (one machine) reads a
bucket's files with Arrow's Parquet reader, keeps the rows recorded by ``known at`` and
those the prune rule keeps (:mod:`osmanthus.population.prune`), and hands them to
:func:`osmanthus.population.kernel.score_bucket` on a pool of threads (DuckDB finds the
rows of the residents an incremental run scores again); Spark
(local mode or any cluster through its master URL) groups the lake by its ``bucket``
column and runs the same function in its Python workers with ``applyInArrow``. Both
write one Parquet file of per-resident results per bucket into the run's folder.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from osmanthus.errors import OsmanthusError
from osmanthus.population.columns import I64
from osmanthus.population.compiled import Compiled
from osmanthus.population.kernel import RESULT_SCHEMA, score_bucket, score_tables
from osmanthus.population.lake import READ_COLUMNS, RESIDENT_KEY, TABLES, Lake
from osmanthus.population.memory import kept_for_reuse
from osmanthus.population.prune import PruneRule, prune_rule, prune_sql
from osmanthus.population.result import write_result
from osmanthus.population.snapshot import plain_text, write_bucket, write_due

__all__ = ["ENGINES", "EngineError", "read_bucket", "read_kept", "run_duckdb", "run_spark"]

#: text columns the lake stores as plain strings, read as dictionaries: an incident
#: reference is mostly null and repeats within a resident's records, and the kernel
#: wants codes (decoding it as strings, then encoding them again, cost 8 ms of a 13 M
#: bucket's 180)
_AS_DICTIONARY = {"records": ["incident_ref"]}
_WHEN = {
    "records": "recorded_at",
    "residents": "registered_at",
    "profile_facts": "recorded_at",
    "suspensions": "recorded_at",
}


class EngineError(OsmanthusError):
    """A population engine could not run (Spark missing Java, a worker failing, ...)."""


def run_duckdb(
    lake: Lake,
    compiled: Compiled,
    known_at: dt.datetime | None,
    out: Path,
    *,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
    residents: I64 | None = None,
    snapshot: Path | None = None,
    since: tuple[Mapping[str, pa.Table], int] | None = None,
) -> None:
    """Score every bucket with DuckDB reading the lake; write ``out/part-NNN.parquet``
    (``snapshot``: keep the rows read there, :mod:`osmanthus.population.snapshot`).
    ``residents``: score only these (``out/part-rescored.parquet``), their rows taken
    from a full run's snapshot and the lake's files of the exports after it (``since``:
    their rows in the snapshot, and the lake's export number then), or from the whole
    lake."""
    out.mkdir(parents=True, exist_ok=True)
    workers = threads or min(os.cpu_count() or 1, 4)
    if residents is not None:
        _rescore_duckdb(lake, compiled, out, residents, workers, progress, since)
        return
    rule = prune_rule(compiled)
    due: list[pa.Table] = []  # each group's residents with a next change (list.append is
    # atomic across threads)

    def one(group: range) -> int:
        read = []
        for bucket in group:
            records, kept = read_kept(lake, "records", bucket, known_at, rule)
            tables = {
                t: read_bucket(lake, t, bucket, known_at, rule) for t in TABLES if t != "records"
            }
            if snapshot is not None:  # it keeps the rows kept (as read_bucket's), which
                records, kept = _taken(records, kept), None  # the kernel then reads as they are
                write_bucket(snapshot, bucket, {"records": records, **tables})
            read.append(({"records": records, **tables}, kept))
        together, rows = _together(read)
        result = score_tables(together, compiled, known_at, rows=rows)
        write_result(result, out / f"part-{group[0]:05d}.parquet")
        if snapshot is not None:
            days = result.select(["next_change", "resident_id"])
            due.append(days.filter(pc.is_valid(days["next_change"])))
        return int(result.num_rows)

    with kept_for_reuse(), ThreadPoolExecutor(max_workers=workers) as pool:
        for rows in pool.map(one, bucket_groups(lake, workers)):
            if progress:
                progress(rows)
    if snapshot is not None:
        write_due(snapshot, due)


#: records the kernel scores at once, about: a bucket's fixed cost (a result file, some
#: thirty NumPy calls per column) stays small beside its rows, and memory stays far below
#: a gigabyte (a 13 M-resident lake's buckets hold 940,000 records each). Each thread
#: faults in its group's memory once (a page fault costs 4 µs of system time here): on a
#: 1 M-resident lake, two threads, medians of 24 runs alternating, 300,000 (five buckets)
#: took 0.839 CPU-s, 240,000 0.857, 500,000 0.897, 1,000,000 0.970, 100,000 (one
#: bucket, a result file each) 1.21
GROUP_RECORDS = 300_000


def bucket_groups(lake: Lake, workers: int) -> list[range]:
    """The buckets scored together: neighbours, as many as hold about
    :data:`GROUP_RECORDS` records (one when a bucket holds that many), and at least two
    groups per worker when there are buckets enough (so the threads finish together)."""
    per_bucket = max(1, lake.rows["records"] // lake.buckets)
    size = max(1, min(GROUP_RECORDS // per_bucket, -(-lake.buckets // (2 * workers))))
    return [range(b, min(b + size, lake.buckets)) for b in range(0, lake.buckets, size)]


def _together(
    read: list[tuple[dict[str, pa.Table], I64 | None]],
) -> tuple[dict[str, pa.Table], I64 | None]:
    """Several buckets' tables as one, one after the other (each text column with one
    dictionary), and the records' rows kept among them (None: all): the kernel finds
    residents in any order when their ids are dense enough, as a few neighbouring
    buckets' are."""
    if len(read) == 1:
        return read[0]
    tables = {
        t: pa.concat_tables(
            [r[t] for r, _ in read], promote_options="permissive"
        ).unify_dictionaries()
        for t in TABLES
    }
    if all(kept is None for _, kept in read):
        return tables, None
    parts, offset = [], 0
    for r, kept in read:
        count = r["records"].num_rows
        parts.append(offset + (np.arange(count) if kept is None else kept))
        offset += count
    return tables, np.concatenate(parts)


def _taken(rows: pa.Table, kept: I64 | None) -> pa.Table:
    """``rows`` less those not ``kept`` (None: all kept), one chunk per column."""
    return (rows if kept is None else rows.take(pa.array(kept))).combine_chunks()


def read_bucket(
    lake: Lake, table: str, bucket: int, known_at: dt.datetime | None, rule: PruneRule | None
) -> pa.Table:
    """One bucket's rows of ``table`` as Arrow reads them (text columns stay dictionaries,
    one per bucket), recorded by ``known_at``; records kept by the prune ``rule``."""
    rows, kept = read_kept(lake, table, bucket, known_at, rule)
    return _taken(rows, kept)


@functools.cache
def _empty(table: str) -> pa.Table:
    """No rows of ``table``, typed as :func:`read_kept` reads them (made once: most
    buckets of most lakes have no suspensions, and building it cost a run at 1 M
    residents 2 % of its CPU)."""
    empty = TABLES[table].empty_table().select(READ_COLUMNS[table])
    for name in _AS_DICTIONARY.get(table, []):
        kind = pa.dictionary(pa.int32(), pa.string())
        empty = empty.set_column(empty.schema.get_field_index(name), name, empty[name].cast(kind))
    return empty


def read_kept(
    lake: Lake, table: str, bucket: int, known_at: dt.datetime | None, rule: PruneRule | None
) -> tuple[pa.Table, I64 | None]:
    """One bucket's rows of ``table`` as Arrow reads them, and which of them are recorded
    by ``known_at`` and, for records, kept by the prune ``rule`` (ascending; None: all).
    Several exports' rows come one after the other, each sorted by resident and id (the
    kernel orders its NumPy columns, cheaper than reordering every Arrow column)."""
    columns = READ_COLUMNS[table]
    text = _AS_DICTIONARY.get(table, [])
    parts = [
        pq.ParquetFile(path, pre_buffer=False, read_dictionary=text).read(
            columns=columns, use_threads=False
        )
        for path in lake.paths(table, bucket)
    ]
    if not parts:
        return _empty(table), None
    # (a row group has a dictionary of its own, so has each export: the kernel and
    # _taken make them one; a lake's files from before its columns were required have
    # them nullable)
    rows = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="default")
    keep = np.ones(rows.num_rows, dtype=bool)
    if known_at is not None:
        when = pa.scalar(known_at, rows.schema.field(_WHEN[table]).type)
        known = pc.less_equal(rows[_WHEN[table]], when).fill_null(False)
        keep &= known.to_numpy(zero_copy_only=False)
    if rule is not None and table == "records":
        keep &= rule.mask(rows)
    return rows, None if keep.all() else np.flatnonzero(keep)


def _rescore_duckdb(
    lake: Lake,
    compiled: Compiled,
    out: Path,
    residents: I64,
    workers: int,
    progress: Callable[[int], None] | None,
    since: tuple[Mapping[str, pa.Table], int] | None,
) -> None:
    """Score only ``residents`` (a sorted array of ids): their rows in a full run's
    snapshot (``since``: as :func:`~osmanthus.population.snapshot.read_residents` gives
    them, and the lake's export number when that run read it), and each table's files
    since it (or all of them) read in one query joined with the ids; the kernel runs once
    on what is found (it needs whole residents, not whole buckets)."""
    kept = since[0] if since else {}
    con = duckdb.connect(config={"threads": workers})
    try:
        types = _enum_types(con, lake)
        con.register("wanted", pa.table({"rid": pa.array(residents, pa.int64())}))
        prune = prune_sql(compiled)
        tables = {}
        for table in TABLES:
            files = lake.paths_after(table, since[1]) if since else lake.paths(table)
            semi = f"{RESIDENT_KEY[table]} IN (SELECT rid FROM wanted)"
            conditions = [semi, *([prune] if prune and table == "records" else [])]
            found = plain_text(_query(con, [str(p) for p in files], table, types, conditions, {}))
            parts = [found]
            if table in kept:  # pruned for the full run's date: again for this one, so the
                old = kept[table].select(found.column_names)  # rows are a full run's
                if prune and table == "records":
                    con.register("kept", old)
                    old = con.sql(f"SELECT * FROM kept WHERE {prune}").to_arrow_table()
                    con.unregister("kept")
                parts.insert(0, plain_text(old))
            tables[table] = pa.concat_tables(parts, promote_options="permissive")
    finally:
        con.close()
    result = score_tables(tables, compiled)
    write_result(result, out / "part-rescored.parquet")
    if progress:
        progress(int(result.num_rows))


def _enum_types(con: duckdb.DuckDBPyConnection, lake: Lake) -> dict[str, str]:
    """An ENUM type for each text column with known values (the lake lists them): DuckDB
    then hands the kernel dictionary-encoded columns instead of strings to hash again."""
    types = {}
    for number, (key, values) in enumerate(sorted(lake.values.items())):
        if values:
            name = f"lake_text_{number}"
            labels = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
            con.sql(f"CREATE TYPE {name} AS ENUM ({labels})")
            types[key] = name
    return types


def _query(
    con: duckdb.DuckDBPyConnection,
    paths: list[str],
    table: str,
    types: dict[str, str],
    conditions: list[str],
    params: dict[str, Any],
) -> pa.Table:
    if not paths:
        return TABLES[table].empty_table().select(READ_COLUMNS[table])
    columns = ", ".join(
        f"{c}::{types[f'{table}.{c}']} AS {c}" if f"{table}.{c}" in types else c
        for c in READ_COLUMNS[table]
    )
    query = f"SELECT {columns} FROM read_parquet($paths, hive_partitioning = false)"
    params = {"paths": paths, **params}
    if conditions:
        query += " WHERE " + " AND ".join(conditions)
    return con.sql(query, params=params).to_arrow_table()


def run_spark(
    lake: Lake,
    compiled: Compiled,
    known_at: dt.datetime | None,
    out: Path,
    *,
    master: str = "local[2]",
    progress: Callable[[int], None] | None = None,
    residents: I64 | None = None,
) -> None:
    """Score every bucket with Spark (``master``: ``local[N]`` or a cluster URL;
    ``residents``: only these, joined with every table before the kernel runs)."""
    session = spark_session(master)
    from pyspark.sql import functions as F

    wanted = None
    if residents is not None:
        ids = pa.table({"rid": pa.array(residents, pa.int64())})
        wanted = F.broadcast(session.createDataFrame(ids.to_pandas()))

    def frame(table: str) -> Any:
        paths = [str(p) for p in lake.paths(table)]
        if not paths:
            return session.createDataFrame([], _spark_schema(TABLES[table]))
        df = session.read.parquet(*paths)
        if known_at is not None:
            df = df.where(F.col(_WHEN[table]) <= F.lit(known_at))
        if wanted is not None:
            key = RESIDENT_KEY[table]
            df = df.join(wanted, df[key] == wanted["rid"], "left_semi")
        return df.select("bucket", *READ_COLUMNS[table])

    records = frame("records")
    prune = prune_sql(compiled)
    if prune:  # rows that cannot change any score on the date (see population.prune)
        records = records.where(F.expr(prune))
    subjects = frame("residents").withColumn("row", F.lit("resident"))
    profiles = frame("profile_facts").withColumnRenamed("id", "fact_id")
    suspended = frame("suspensions").withColumnRenamed("id", "suspension_id")
    # one frame of subjects: resident, profile and suspension rows, told apart by ``row``
    subjects = subjects.unionByName(
        profiles.withColumn("row", F.lit("profile")), allowMissingColumns=True
    ).unionByName(suspended.withColumn("row", F.lit("suspension")), allowMissingColumns=True)

    def kernel(left: pa.Table, right: pa.Table) -> pa.Table:
        residents = right.filter(pa.compute.equal(right["row"], "resident"))
        profiles = right.filter(pa.compute.equal(right["row"], "profile"))
        profiles = profiles.select(
            ["fact_id", "resident_id", "attribute", "value", "recorded_at"]
        ).rename_columns(["id", "resident_id", "attribute", "value", "recorded_at"])
        suspensions = right.filter(pa.compute.equal(right["row"], "suspension"))
        suspensions = suspensions.select(
            ["suspension_id", *READ_COLUMNS["suspensions"][1:]]
        ).rename_columns(READ_COLUMNS["suspensions"])
        found = score_bucket(
            left,
            residents.select(READ_COLUMNS["residents"]),
            profiles,
            compiled,
            known_at,
            suspensions=suspensions,
        )
        return plain_text(found)  # Spark's schema has no dictionaries

    result = (
        records.groupBy("bucket")
        .cogroup(subjects.groupBy("bucket"))
        .applyInArrow(kernel, _spark_schema(RESULT_SCHEMA))
    )
    try:
        result.write.mode("overwrite").parquet(str(out))
    except Exception as exc:  # py4j and Spark raise many kinds; one line for the user
        raise EngineError(f"spark: the population run failed: {str(exc).splitlines()[0]}") from exc
    if progress:
        progress(int(pq.ParquetDataset(str(out)).read(columns=["resident_id"]).num_rows))


_SESSION: Any = None


def spark_session(master: str) -> Any:
    """A Spark session for ``master`` (one per process; local mode binds 127.0.0.1)."""
    global _SESSION
    if _SESSION is not None:
        if _SESSION.sparkContext.master == master:
            return _SESSION
        _SESSION.stop()  # getOrCreate would hand back the old master's session
        _SESSION = None
    missing = [name for name in ("pyspark", "pandas") if not _installed(name)]
    if missing:
        raise EngineError(
            f"spark: {' and '.join(missing)} not installed: the Spark engine is the optional "
            "extra 'spark' (pip install 'osmanthus[spark]'; it also needs Java 17)"
        )
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    try:
        from pyspark.sql import SparkSession

        warehouse = tempfile.mkdtemp(prefix="osmanthus-spark-")
        _SESSION = (
            SparkSession.builder.master(master)
            .appName("osmanthus-population")
            .config("spark.sql.warehouse.dir", warehouse)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", "1000000")
            .config("spark.driver.memory", "2g")
            .config("spark.pyspark.python", sys.executable)  # executors: this interpreter
            .getOrCreate()
        )
        _SESSION.sparkContext.setLogLevel("ERROR")
    except Exception as exc:
        raise EngineError(f"spark: could not start ({str(exc).splitlines()[0]})") from exc
    return _SESSION


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None, or without a spec
        return False


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    plain = pa.schema(
        [
            pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
            for f in schema
        ]
    )
    return from_arrow_schema(plain)


ENGINES: dict[str, Callable[..., None]] = {"duckdb": run_duckdb, "spark": run_spark}
