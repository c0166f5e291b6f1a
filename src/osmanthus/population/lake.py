"""The Parquet lake: the ledger's rows, exported incrementally for the population engines.

Layout (``<lake>/``)::

    manifest.json                              watermarks and the files that count
    records/bucket=007/part-000003.parquet     rows of residents with id % buckets == 7
    residents/bucket=007/part-000003.parquet
    profile_facts/bucket=007/part-000003.parquet
    suspensions/bucket=007/part-000003.parquet

Every table is split into ``buckets`` by resident id (``resident_id % buckets``), and
each file also carries its ``bucket`` column, so DuckDB reads one bucket's files at a
time and Spark groups by that column without a shuffle of the whole ledger. A bucket
holds whole residents: everything the semantics need for one resident is in one bucket.

Rows are only ever appended to the ledger, so a watermark per table (the highest id
exported) is enough. An export writes new part files first and the manifest last, by
atomic rename; readers use only the files the manifest lists, so a crashed export leaves
nothing half-visible and the next export simply writes its part again. An export holds
the lake's lock (:func:`locked`: ``<lake>/.lock``) from reading the manifest to publishing
the next one, so two exports at once run one after the other.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import re
import uuid
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from osmanthus.durable import fsync_path, write_durably
from osmanthus.errors import OsmanthusError

__all__ = [
    "PROFILE_SCHEMA",
    "READ_COLUMNS",
    "RECORD_SCHEMA",
    "RESIDENT_KEY",
    "RESIDENT_SCHEMA",
    "SUSPENSION_SCHEMA",
    "TABLES",
    "Lake",
    "LakeError",
    "LakeWriter",
    "locked",
]

FORMAT = 1
DEFAULT_BUCKETS = 64
ROW_GROUP = 256_000

_TS = pa.timestamp("us", tz="UTC")
_TEXT = pa.dictionary(pa.int32(), pa.string())


def _required(name: str, kind: pa.DataType) -> pa.Field:
    """A column the ledger never leaves empty (NOT NULL there): Parquet stores it
    without definition levels, which halves the cost of reading a record file's twelve
    columns (measured on a 1 M-resident lake: 0.15 against 0.08 CPU-s)."""
    return pa.field(name, kind, nullable=False)


RECORD_SCHEMA = pa.schema(
    [
        _required("bucket", pa.int32()),
        _required("id", pa.int64()),
        _required("resident_id", pa.int64()),
        _required("department", _TEXT),
        _required("metric", _TEXT),
        _required("value", pa.float64()),
        _required("act_date", pa.date32()),
        _required("decision_date", pa.date32()),
        _required("recorded_at", _TS),
        _required("source_ref", pa.string()),
        ("incident_ref", pa.string()),
        _required("kind", _TEXT),
        ("supersedes_id", pa.int64()),
        ("severity", _TEXT),
    ]
)
RESIDENT_SCHEMA = pa.schema(
    [
        _required("bucket", pa.int32()),
        _required("id", pa.int64()),
        _required("district", _TEXT),
        _required("birth_year", pa.int16()),
        _required("registered_at", _TS),
    ]
)
PROFILE_SCHEMA = pa.schema(
    [
        _required("bucket", pa.int32()),
        _required("id", pa.int64()),
        _required("resident_id", pa.int64()),
        _required("attribute", _TEXT),
        _required("value", pa.date32()),
        _required("recorded_at", _TS),
    ]
)
SUSPENSION_SCHEMA = pa.schema(
    [
        _required("bucket", pa.int32()),
        _required("id", pa.int64()),
        _required("resident_id", pa.int64()),
        _required("record_id", pa.int64()),
        _required("starts", pa.date32()),
        _required("lifted", pa.bool_()),
        _required("recorded_at", _TS),
    ]
)
TABLES: dict[str, pa.Schema] = {
    "records": RECORD_SCHEMA,
    "residents": RESIDENT_SCHEMA,
    "profile_facts": PROFILE_SCHEMA,
    "suspensions": SUSPENSION_SCHEMA,
}
#: The column holding the resident id in each table.
RESIDENT_KEY = {
    "records": "resident_id",
    "residents": "id",
    "profile_facts": "resident_id",
    "suspensions": "resident_id",
}


#: The columns of each table the population engines read (the kernel's input).
READ_COLUMNS = {
    table: [n for n in schema.names if n not in ("bucket", "source_ref")]
    for table, schema in TABLES.items()
}


class LakeError(OsmanthusError):
    """The lake is missing, damaged or of another format."""


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lake at ``path`` for one writer: an exclusive ``flock`` on ``.lock`` in
    it (created with the folder if need be), waiting while another process or thread
    holds it. The kernel lets go if the holder dies."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle = (path / ".lock").open("ab")  # created if missing, never truncated
    except OSError as exc:
        raise LakeError(f"{path}: cannot open the lake's lock file: {exc}") from exc
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass
class Lake:
    """A lake folder and its manifest (what has been exported, and where)."""

    path: Path
    buckets: int = DEFAULT_BUCKETS
    exports: int = 0
    watermarks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    files: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TABLES})
    exported_at: str | None = None
    ledger: str | None = None  # hash of the ledger's first audit entry: which ledger this is
    values: dict[str, list[str]] = field(default_factory=dict)  # "table.column": text values
    erasures: int = 0  # seq of the newest erasure entry the lake has taken in
    #: drawn when the lake is created: a lake removed and exported again is another one
    lake_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: per table: the list of names indexed (a new list is indexed again) and its names
    #: by bucket
    _by_bucket: dict[str, tuple[list[str], dict[int, list[str]]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def manifest(self) -> Path:
        return self.path / "manifest.json"

    @classmethod
    def open(cls, path: Path, *, create: bool = False, buckets: int = DEFAULT_BUCKETS) -> Lake:
        """Open the lake at ``path`` (with ``create``, start an empty one if none is there)."""
        manifest = path / "manifest.json"
        if not manifest.exists():
            if not create:
                raise LakeError(f"{path}: no lake here (no manifest.json); export the ledger first")
            if buckets < 1:
                raise LakeError(f"{path}: buckets must be at least 1, got {buckets}")
            return cls(path=path, buckets=buckets)
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LakeError(f"{manifest}: unreadable manifest: {exc}") from exc
        if data.get("format") != FORMAT:
            raise LakeError(f"{manifest}: lake format {data.get('format')!r}, expected {FORMAT}")
        return cls(
            path=path,
            buckets=int(data["buckets"]),
            exports=int(data["exports"]),
            # a table added to the lake later starts empty in a lake exported before it
            watermarks={t: int(data["watermarks"].get(t, 0)) for t in TABLES},
            rows={t: int(data["rows"].get(t, 0)) for t in TABLES},
            files={t: list(data["files"].get(t, [])) for t in TABLES},
            exported_at=data.get("exported_at"),
            ledger=data.get("ledger"),
            values={k: list(v) for k, v in data.get("values", {}).items()},
            erasures=int(data.get("erasures", 0)),
            # a lake from before ids is named by its ledger (the same on every open)
            lake_id=str(data.get("lake_id") or f"ledger-{data.get('ledger')}"),
        )

    def paths(self, table: str, bucket: int | None = None) -> list[Path]:
        """The files of ``table`` that count (of one bucket, or all). A bucket's are
        looked up in an index of the file names by bucket, made once per list of names
        (a run asks for every bucket's, and a year of daily exports lists 23,000 files
        a table)."""
        names = self.files[table]
        if bucket is None:
            return [self.path / name for name in names]
        index = self._by_bucket.get(table)
        if index is None or index[0] is not names:
            found: dict[int, list[str]] = {}
            for name in names:
                marker = _BUCKET.search(f"/{name}")
                if marker is not None:
                    found.setdefault(int(marker.group(1)), []).append(name)
            index = self._by_bucket[table] = (names, found)
        return [self.path / name for name in index[1].get(bucket, ())]

    def paths_after(self, table: str, export: int) -> list[Path]:
        """The files of ``table`` written by exports after ``export`` (each export names
        its part files by its number, and an export only adds rows, except the buckets
        an erasure rewrites, which a later run notices by the lake's ``erasures``)."""
        return [p for p in self.paths(table) if _export_of(p) > export]

    def commit(
        self,
        exports: int,
        watermarks: dict[str, int],
        writers: Mapping[str, LakeWriter],
        *,
        rewritten: Collection[int] = (),
        erasures: int | None = None,
    ) -> list[Path]:
        """Publish an export (its closed writers): the new manifest replaces the old one
        atomically. The writers hold the ``rewritten`` buckets whole: their earlier files
        leave the manifest, and are returned (to delete once no run reads them)."""
        self.exports = exports
        self.watermarks = dict(watermarks)
        gone: list[Path] = []
        for table, writer in writers.items():
            old = [p for b in sorted(rewritten) for p in self.paths(table, b)]
            if old:
                self.rows[table] -= sum(pq.read_metadata(p).num_rows for p in old)
                dropped = {str(p.relative_to(self.path)) for p in old}
                self.files[table] = [f for f in self.files[table] if f not in dropped]
                gone += old
            self.files[table] = sorted(set(self.files[table]) | set(writer.names))
            self.rows[table] += writer.rows
            for column, seen in writer.values.items():
                key = f"{table}.{column}"
                self.values[key] = sorted(set(self.values.get(key, ())) | seen)
        if erasures is not None:
            self.erasures = erasures
        self.exported_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        data = {
            "format": FORMAT,
            "buckets": self.buckets,
            "exports": self.exports,
            "exported_at": self.exported_at,
            "ledger": self.ledger,
            "watermarks": self.watermarks,
            "rows": self.rows,
            "files": self.files,
            "values": self.values,
            "erasures": self.erasures,
            "lake_id": self.lake_id,
        }
        write_durably(self.manifest, json.dumps(data, indent=1))
        return gone


def _encoding(schema: pa.Schema) -> dict[str, object]:
    """How a table's files are written: text in dictionaries; integers, dates and
    times as deltas (ids and dates close to their neighbours in resident order; a
    dictionary of unique ids is only work); LZ4, which decodes at a fraction of zstd's
    cost. Measured on a 2 M-resident lake against zstd with dictionaries everywhere:
    reading 40 % less CPU, files 5 % smaller."""
    text = [f.name for f in schema if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)]
    numbers = [
        f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_temporal(f.type)
    ]
    return {
        "compression": "lz4",
        "use_dictionary": text,
        "column_encoding": dict.fromkeys(numbers, "DELTA_BINARY_PACKED"),
    }


_ENCODING = {table: _encoding(schema) for table, schema in TABLES.items()}


class LakeWriter:
    """Writes one export's part files: rows are split by bucket and written in row groups.

    Use :meth:`add` with Arrow tables of a lake table's schema (without ``bucket``), then
    :meth:`close`, which returns the relative names of the files written.
    """

    def __init__(self, lake: Lake, table: str, part: int) -> None:
        self.lake, self.table, self.part = lake, table, part
        self.schema = TABLES[table]
        self._pending: dict[int, list[pa.Table]] = {}
        self._pending_rows: dict[int, int] = {}
        self._writers: dict[int, pq.ParquetWriter] = {}
        self.rows = 0
        self.names: list[str] = []
        #: distinct values of each text column (engines type the columns with them)
        self.values: dict[str, set[str]] = {
            f.name: set() for f in self.schema if pa.types.is_dictionary(f.type)
        }

    def name(self, bucket: int) -> str:
        return f"{self.table}/bucket={bucket:03d}/part-{self.part:06d}.parquet"

    def add(self, table: pa.Table) -> None:
        """Queue rows (columns named as in the schema, any order; ``bucket`` is added)."""
        if table.num_rows == 0:
            return
        key = table.column(RESIDENT_KEY[self.table]).to_numpy()
        bucket = pa.array((key % self.lake.buckets).astype(np.int32))
        table = table.append_column("bucket", bucket)
        try:
            table = table.select(self.schema.names).cast(self.schema)
        except (ValueError, TypeError, NotImplementedError) as exc:  # Arrow's errors are these
            # a column the ledger never leaves empty holding a null, or of another type
            raise LakeError(f"lake table {self.table}: {exc}".splitlines()[0]) from exc
        self.rows += table.num_rows
        for column, seen in self.values.items():
            found = pc.unique(table[column])
            seen.update(v for v in found.to_pylist() if v is not None)
        for value, part in _split(table, bucket):
            self._pending.setdefault(value, []).append(part)
            self._pending_rows[value] = self._pending_rows.get(value, 0) + part.num_rows
            if self._pending_rows[value] >= ROW_GROUP:
                self._flush(value)

    def _flush(self, bucket: int) -> None:
        parts = self._pending.pop(bucket, [])
        self._pending_rows.pop(bucket, None)
        if not parts:
            return
        writer = self._writers.get(bucket)
        if writer is None:
            path = self.lake.path / self.name(bucket)
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(path, self.schema, **_ENCODING[self.table])
            self._writers[bucket] = writer
        # one dictionary per text column: parts with dictionaries of their own would make
        # Parquet fall back to writing every value in full (30 times the bytes to decode)
        rows = pa.concat_tables(parts).unify_dictionaries().combine_chunks()
        # in resident order (then id): the engines read each file as one sorted run
        keys = dict.fromkeys([RESIDENT_KEY[self.table], "id"])
        rows = rows.sort_by([(key, "ascending") for key in keys])
        writer.write_table(rows, row_group_size=ROW_GROUP)

    def close(self) -> list[str]:
        """Write what is queued, close every file, return their names. The files and
        the folders naming them are synced to disk, so the manifest published after them
        never names a file a power cut could lose."""
        for bucket in list(self._pending):
            self._flush(bucket)
        names = []
        for bucket, writer in sorted(self._writers.items()):
            writer.close()
            path = self.lake.path / self.name(bucket)
            fsync_path(path)
            fsync_path(path.parent)
            names.append(self.name(bucket))
        if names:  # the table's folder names its bucket folders; the lake's names it
            fsync_path(self.lake.path / self.table)
            fsync_path(self.lake.path)
        self.names = names
        return names


_BUCKET = re.compile(r"/bucket=(\d+)/")


def _export_of(path: Path) -> int:
    found = re.search(r"part-(\d+)\.parquet$", path.name)
    return int(found.group(1)) if found else 0


def _split(table: pa.Table, bucket: pa.Array) -> Iterator[tuple[int, pa.Table]]:
    """The rows of ``table`` by bucket value."""
    order = pc.sort_indices(bucket)
    ordered = table.take(order)
    values = bucket.take(order).to_numpy()
    if len(values) == 0:
        return
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends, strict=True):
        yield int(values[start]), ordered.slice(int(start), int(end - start))
