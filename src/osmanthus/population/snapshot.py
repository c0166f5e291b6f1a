"""The rows a full run read, kept in resident order for the incremental runs after it.

A full DuckDB run of the present reads every bucket of the lake (rows recorded by now,
records the policy can still count on the scoring date or later: the prune filter only
drops rows that cannot count on any later date either). It keeps what it read in
``<run>/snapshot/<table>/bucket-NNN.arrow``: uncompressed Arrow IPC files sorted by
resident, which later runs map into memory. An incremental run then finds the rows of
the few residents it scores again by binary search in each bucket's resident column
and takes only those rows (a few pages of each column), instead of scanning the lake;
the rows exported after the full run are read from the lake's newer part files. The
full run's results of those residents (the "before" of the statistics) are scored again
from the same rows, at the full run's date; the snapshot keeps no copy of the results,
only ``due.arrow``: who has a next change, by the day.

A snapshot copies lake rows, so an erasure must reach it: the export that takes an
erasure into the lake deletes every run's snapshot (:func:`drop_snapshots`; the next run
scores everyone anyway, since the lake's erasures changed).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from osmanthus.population.columns import I64
from osmanthus.population.lake import RESIDENT_KEY, TABLES

__all__ = [
    "DUE",
    "SNAPSHOT",
    "drop_snapshots",
    "due_in_results",
    "due_rows",
    "plain_text",
    "read_residents",
    "write_bucket",
    "write_due",
]

SNAPSHOT = "snapshot"
DUE = "due.arrow"
_UTC = pa.timestamp("us", tz="UTC")


def drop_snapshots(runs: Path, *, keep: Path | None = None) -> int:
    """Delete the snapshots of the runs in ``runs``; return how many were deleted. With
    ``keep`` (the run that just finished): only those of finished runs older than it. A
    run continues only from the newest run, whose folder links what it needs, so the
    older runs' snapshots are of no use; a run still going links its own first."""
    found = sorted(runs.glob(f"*/{SNAPSHOT}")) if runs.is_dir() else []
    if keep is not None:
        found = [
            folder
            for folder in found
            if folder.parent.name < keep.name and (folder.parent / "run.json").is_file()
        ]
    for folder in found:
        shutil.rmtree(folder, ignore_errors=True)
    return len(found)


def _path(folder: Path, table: str, bucket: int) -> Path:
    return folder / table / f"bucket-{bucket:05d}.arrow"


def write_bucket(folder: Path, bucket: int, tables: Mapping[str, pa.Table]) -> None:
    """Keep one bucket's rows as read, each table sorted by resident (then as read); a
    table without rows in the bucket is not written (a later run opens no file for it)."""
    for table, rows in tables.items():
        if rows.num_rows == 0:
            continue
        key = rows[RESIDENT_KEY[table]].to_numpy()
        if key.size and not bool(np.all(key[1:] >= key[:-1])):
            rows = rows.take(pa.array(np.argsort(key, kind="stable")))
        path = _path(folder, table, bucket)
        path.parent.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as writer:
            writer.write_table(rows, max_chunksize=1 << 20)


def _mapped(path: Path) -> pa.Table:
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


def write_due(folder: Path, results: list[pa.Table]) -> None:
    """Keep the residents of ``results`` (``next_change`` and ``resident_id`` columns)
    that have a next change, by that day: a later run finds whose day has come by one
    binary search (``due.arrow``) instead of reading every resident's day."""
    rows = (
        pa.concat_tables(results)
        if results
        else pa.table(
            {"next_change": pa.array([], pa.date32()), "resident_id": pa.array([], pa.int64())}
        )
    )
    rows = rows.filter(pc.is_valid(rows["next_change"]))
    rows = rows.take(pa.array(np.argsort(rows["next_change"].to_numpy(), kind="stable")))
    folder.mkdir(parents=True, exist_ok=True)  # (no bucket had rows: no file made it)
    with pa.OSFile(str(folder / DUE), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as out:
        out.write_table(rows)


def due_in_results(folder: Path, as_of: dt.date) -> I64:
    """Residents of the full run whose next change has come by ``as_of``."""
    rows = _mapped(folder / DUE)
    days = rows["next_change"].to_numpy()
    first_later = int(np.searchsorted(days, np.datetime64(as_of, "D"), side="right"))
    due: I64 = rows["resident_id"].slice(0, first_later).to_numpy()
    return due


def due_rows(results: pa.Table, as_of: dt.date) -> I64:
    """Residents of ``results`` (run result rows) whose next change has come by ``as_of``."""
    mask = pc.less_equal(results["next_change"], pa.scalar(as_of, pa.date32()))
    found: I64 = results["resident_id"].filter(mask).to_numpy()  # a null: left out
    return found


def _rows_of(key: pa.ChunkedArray, wanted: I64) -> I64:
    """Row numbers of the rows whose (sorted) ``key`` is in ``wanted`` (sorted)."""
    keys = key.chunk(0).to_numpy() if key.num_chunks == 1 else key.to_numpy()
    lo = np.searchsorted(keys, wanted, side="left")
    counts = np.searchsorted(keys, wanted, side="right") - lo
    total = int(counts.sum())
    rows: I64 = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
    return rows


def read_residents(folder: Path, residents: I64, buckets: int) -> dict[str, pa.Table]:
    """The snapshot's rows of ``residents`` (sorted ids), per table (a table none of them
    has a row in is left out), text as plain strings."""
    found: dict[str, list[pa.Table]] = {table: [] for table in TABLES}
    of_bucket = residents % buckets
    for bucket in np.unique(of_bucket).tolist():
        wanted = residents[of_bucket == bucket]
        for table in TABLES:
            path = _path(folder, table, int(bucket))
            if not path.is_file():
                continue
            rows = _mapped(path)
            take = _rows_of(rows[RESIDENT_KEY[table]], wanted)
            if take.size:
                found[table].append(plain_text(rows.take(pa.array(take))))
    # (promoted: buckets whose files came before the lake's columns were required have
    # them nullable)
    return {
        table: pa.concat_tables(parts, promote_options="default")
        for table, parts in found.items()
        if parts
    }


def plain_text(rows: pa.Table) -> pa.Table:
    """``rows`` with dictionary-encoded columns as plain strings and times labelled
    "UTC" (DuckDB says "Etc/UTC"), so that tables read by different means can be put
    together."""
    for i, field in enumerate(rows.schema):
        if pa.types.is_dictionary(field.type):
            rows = rows.set_column(i, field.name, pc.cast(rows[field.name], pa.string()))
        elif pa.types.is_timestamp(field.type) and field.type.tz is not None:
            rows = rows.set_column(i, field.name, rows[field.name].cast(_UTC))
    return rows
