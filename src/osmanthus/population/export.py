"""Incremental export of the ledger to the lake: every row above the last watermark.

The ledger is append-only, so each table's highest exported id is its watermark. On
PostgreSQL, ids come from sequences and a transaction that took a lower id may commit
after one that took a higher id; the export therefore first takes a short ``SHARE`` lock
on the exported tables, which waits for every writing transaction in flight, reads the
highest ids, and lets go. Every id up to them is then committed for good, and rows are
read in a second transaction up to exactly those ids. On SQLite one writer at a time
makes the highest id in a read transaction final by itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, Table, func, select

from osmanthus.ledger import (
    Actor,
    append_entry,
    database_errors,
    ledger_identity,
    read_only,
    settle,
)
from osmanthus.ledger.schema import departments, profile_facts, records, residents, suspensions
from osmanthus.population.lake import RESIDENT_KEY, TABLES, Lake, LakeError, LakeWriter, locked
from osmanthus.population.scrub import Scrub, readers, scrub_plan
from osmanthus.population.snapshot import drop_snapshots

__all__ = ["ExportResult", "export_ledger"]

FETCH = 200_000
_SOURCES: dict[str, Table] = {
    "records": records,
    "residents": residents,
    "profile_facts": profile_facts,
    "suspensions": suspensions,
}


@dataclass(frozen=True)
class ExportResult:
    """What one export added to the lake."""

    lake: Path
    export: int
    rows: dict[str, int]
    watermarks: dict[str, int]
    rewritten: int = 0  # buckets written again after erasures

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def export_ledger(
    engine: Engine,
    lake_path: Path,
    *,
    actor: Actor,
    buckets: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """Append every ledger row above the lake's watermarks to the lake; return the counts.

    ``buckets`` applies only when the lake is created (later exports keep its layout).
    The whole export holds the lake's lock, and reads the manifest under it: a second
    export at the same time waits, then continues from the first one's watermarks.
    """
    with locked(lake_path), database_errors("lake export"):
        lake = Lake.open(lake_path, create=True, **({"buckets": buckets} if buckets else {}))
        with read_only(engine) as conn:
            identity = ledger_identity(conn)
        if lake.ledger is not None and lake.ledger != identity:
            raise LakeError(
                f"{lake_path}: this lake was exported from another ledger; remove it or set "
                "another population_dir"
            )
        lake.ledger = identity
        highest = _settled_ids(engine)
        part = lake.exports + 1
        writers: dict[str, LakeWriter] = {}
        rows: dict[str, int] = {}  # new rows (the rewritten buckets' are not new)
        with read_only(engine) as conn:
            scrub = scrub_plan(conn, lake)
            codes = dict(conn.execute(select(departments.c.id, departments.c.code)).all())
            for table in TABLES:
                writer = writers[table] = LakeWriter(lake, table, part)
                new = _chunks(conn, table, lake.watermarks[table], highest[table], codes)
                if scrub:  # the rewritten buckets come whole, from the ledger as it is
                    new = _outside(new, table, scrub.buckets, lake.buckets)
                for chunk in new:
                    writer.add(chunk)
                    if progress:
                        progress(chunk.num_rows)
                added = writer.rows
                if scrub:
                    for chunk in _chunks(conn, table, 0, highest[table], codes, scrub, lake):
                        writer.add(chunk)
                writer.close()
                rows[table] = added
        watermarks = {t: max(lake.watermarks[t], highest[t]) for t in TABLES}
        # audited before it is published: no export is ever visible without its entry
        # (one that fails to publish leaves an entry whose export number comes again)
        with engine.begin() as conn:
            append_entry(
                conn,
                actor=str(actor),
                action="lake.export",
                purpose="population statistics",
                detail={
                    "lake": str(lake_path),
                    "export": part,
                    "rows": rows,
                    "watermarks": watermarks,
                }
                | ({"erasures_rewrote_buckets": len(scrub.buckets)} if scrub else {}),
            )
        gone = lake.commit(
            part, watermarks, writers, rewritten=scrub.buckets, erasures=scrub.newest
        )
        if gone:
            with readers(lake_path, exclusive=True):  # no run reads the old files now
                for path in gone:
                    path.unlink(missing_ok=True)
                drop_snapshots(lake_path.parent / "runs")  # their copies of the rows too
    return ExportResult(lake_path, part, rows, watermarks, len(scrub.buckets))


def _settled_ids(engine: Engine) -> dict[str, int]:
    """The highest id of each table below which every row is committed for good."""
    with engine.begin() as conn:
        settle(conn)  # every writer of these tables has ended; none starts meanwhile
        return {
            name: int(conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one())
            for name, t in _SOURCES.items()
        }


def _chunks(
    conn: Connection,
    table: str,
    after: int,
    upto: int,
    codes: dict[int, str],
    scrub: Scrub | None = None,
    lake: Lake | None = None,
) -> Iterator[pa.Table]:
    """Arrow tables of the rows with ``after < id <= upto``, in id order (with ``scrub``:
    only those of its buckets)."""
    source = _SOURCES[table]
    columns = _columns(table)
    query = (
        select(*(source.c[c] for c in columns))
        .where(source.c.id > after, source.c.id <= upto)
        .order_by(source.c.id)
    )
    if scrub is not None and lake is not None:
        key = source.c[RESIDENT_KEY[table]]
        query = query.where((key % lake.buckets).in_(sorted(scrub.buckets)))
    result = conn.execution_options(stream_results=True, yield_per=FETCH).execute(query)
    schema = TABLES[table]
    while batch := result.fetchmany(FETCH):
        data: dict[str, Sequence[Any]] = dict(zip(columns, zip(*batch, strict=True), strict=True))
        if "department_id" in data:
            data["department"] = tuple(codes[d] for d in data.pop("department_id"))
        if table == "residents":
            data["registered_at"] = _utc(data["registered_at"])
        else:
            data["recorded_at"] = _utc(data["recorded_at"])
        yield pa.table(
            {
                name: pa.array(values, type=_plain(schema.field(name).type))
                for name, values in data.items()
            }
        )


def _outside(
    chunks: Iterator[pa.Table], table: str, buckets: set[int], count: int
) -> Iterator[pa.Table]:
    """The rows of ``chunks`` outside ``buckets``."""
    skip = pa.array(sorted(buckets), type=pa.int64())
    for chunk in chunks:
        kept = pc.invert(pc.is_in(pc.remainder(chunk[RESIDENT_KEY[table]], count), skip))
        yield chunk.filter(kept)


def _columns(table: str) -> list[str]:
    names = [n for n in TABLES[table].names if n != "bucket"]
    if table == "records":
        names[names.index("department")] = "department_id"
    return names


def _utc(values: Sequence[dt.datetime]) -> list[dt.datetime]:
    return [v.astimezone(dt.UTC) for v in values]


def _plain(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind
