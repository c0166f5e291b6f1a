"""Reading a department's batch file (CSV, JSON Lines or Parquet) as a stream of chunks.

Every column arrives as text (Parquet and JSON values are cast), so that validation sees
exactly what the department sent and can name the row and field of anything wrong. The
file's shape is checked here: encoding, required and unexpected columns (a column named
after a prohibited data category is refused as such), empty files, files with a header
and no rows, malformed rows and unreadable Parquet. Each problem is one line that names
the file and, where there is one, the row.

Files are read in chunks of about ``chunk_rows`` rows, so a batch of any size is read in
bounded memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from osmanthus.errors import ProhibitedData, ValidationError
from osmanthus.policy.categories import is_prohibited

__all__ = [
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "BatchFile",
    "detect_format",
    "file_sha256",
    "open_batch",
    "read_batch",
]

REQUIRED_COLUMNS = ("national_id", "metric", "act_date", "decision_date", "source_ref")
#: ``action`` is ``report`` (the default), ``correct`` or ``retract``; a correction or
#: retraction names the source reference it ``supersedes`` and gives a ``reason``.
OPTIONAL_COLUMNS = ("value", "incident_ref", "severity", "action", "supersedes", "reason")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
CHUNK_ROWS = 500_000
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_BOM = "\ufeff"


def detect_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file name."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise ValidationError(
            f"{path.name}: unknown file type {path.suffix or '(none)'!r} "
            f"(expected {', '.join(sorted(FORMATS))})"
        )
    return found


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes (a batch's fingerprint)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class BatchFile:
    """An opened batch: its format, columns, size and a stream of text-column chunks."""

    path: Path
    format: str
    columns: list[str]
    total_rows: int | None  # known up front for Parquet
    size: int
    _chunks: Iterator[pa.Table] = field(repr=False)
    chunk_rows: int = CHUNK_ROWS
    rows_read: int = 0

    def chunks(self) -> Iterator[pa.Table]:
        """Chunks of at most ``chunk_rows`` rows as tables of text columns; raises at the
        end if there were no rows at all."""
        for block in self._chunks:
            for start in range(0, block.num_rows, self.chunk_rows):
                chunk = block.slice(start, self.chunk_rows)
                self.rows_read += chunk.num_rows
                yield _as_text(chunk, self.columns)
        if self.rows_read == 0:
            raise ValidationError(f"{self.path.name}: no data rows (only a header)")


def open_batch(
    path: Path, file_format: str | None = None, *, chunk_rows: int = CHUNK_ROWS
) -> BatchFile:
    """Open ``path`` and check its shape; reading the rows happens as chunks are taken."""
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    kind = file_format or detect_format(path)
    size = path.stat().st_size
    if size == 0:
        raise ValidationError(f"{path.name}: the file is empty (expected a header row)")
    opener = {"csv": _open_csv, "jsonl": _open_jsonl, "parquet": _open_parquet}[kind]
    if kind != "parquet":
        _check_text_start(path)
    try:
        names, total, chunks = opener(path, chunk_rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise _unreadable(path, kind, exc) from exc
    columns = _check_columns(path, names)
    return BatchFile(path, kind, columns, total, size, _guarded(path, kind, chunks), chunk_rows)


def read_batch(path: Path, file_format: str | None = None) -> pa.Table:
    """The whole batch as one table of text columns (for small files and tests)."""
    batch = open_batch(path, file_format)
    return pa.concat_tables(list(batch.chunks()))


def _check_text_start(path: Path) -> None:
    with path.open("rb") as handle:
        start = handle.read(4)
    if start.startswith(_UTF16_BOMS):
        raise ValidationError(f"{path.name}: expected UTF-8 text, found a UTF-16 byte-order mark")


def _check_columns(path: Path, raw: list[str]) -> list[str]:
    names = [name.lstrip(_BOM).strip() for name in raw]
    for name in names:
        if is_prohibited(name):
            raise ProhibitedData(
                f"{path.name}: column {name!r} is a prohibited data category: such data is "
                "never collected (the refusal is logged)",
                category=name,
            )
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise ValidationError(f"{path.name}: missing column(s): {', '.join(missing)}")
    extra = [name for name in names if name not in COLUMNS]
    if extra:
        raise ValidationError(
            f"{path.name}: unexpected column(s): {', '.join(extra)} (a batch carries only "
            f"{', '.join(COLUMNS)})"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationError(f"{path.name}: repeated column(s): {', '.join(repeated)}")
    return names


Opened = tuple[list[str], int | None, Iterator[pa.Table]]


def _open_parquet(path: Path, chunk_rows: int) -> Opened:
    handle = pq.ParquetFile(path)
    total = handle.metadata.num_rows
    batches = handle.iter_batches(batch_size=chunk_rows)
    return list(handle.schema_arrow.names), total, (pa.table(b) for b in batches)


def _csv_header(path: Path) -> list[str]:
    with path.open("rb") as handle:
        header = handle.readline().decode("utf-8", errors="replace")
    return [name.strip() for name in header.lstrip(_BOM).rstrip("\r\n").split(",")]


def _open_csv(path: Path, chunk_rows: int) -> Opened:
    names = _csv_header(path)
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "skip"

    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=_block_size(path), use_threads=True),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
        ),
    )

    def chunks() -> Iterator[pa.Table]:
        for batch in reader:
            if invalid:
                row = invalid[0]
                where = f"row {row.number - 1}: " if row.number is not None else ""
                raise ValidationError(
                    f"{path.name}: {where}expected {row.expected_columns} fields, "
                    f"found {row.actual_columns}"
                )
            yield pa.table(batch)

    return list(reader.schema.names), None, chunks()


def _open_jsonl(path: Path, chunk_rows: int) -> Opened:
    # dates and numbers that are text by nature stay text (no inference of timestamps)
    text = pa.schema([(name, pa.string()) for name in ("national_id", "act_date", "decision_date")])
    reader = pa_json.open_json(
        path,
        read_options=pa_json.ReadOptions(block_size=_block_size(path)),
        parse_options=pa_json.ParseOptions(explicit_schema=text, unexpected_field_behavior="infer"),
    )
    return list(reader.schema.names), None, (pa.table(b) for b in reader)


def _block_size(path: Path) -> int:
    """Large enough for the longest line we accept (a 10 MB field is refused by length)."""
    return 32 << 20


def _guarded(path: Path, kind: str, chunks: Iterator[pa.Table]) -> Iterator[pa.Table]:
    try:
        yield from chunks
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise _unreadable(path, kind, exc) from exc


def _unreadable(path: Path, kind: str, exc: BaseException) -> ValidationError:
    found = _first_bad_line(path, kind)
    if found:
        return ValidationError(f"{path.name}: {found}")
    return ValidationError(f"{path.name}: not a readable {kind} file: {_first_line(exc)}")


def _first_bad_line(path: Path, kind: str) -> str | None:
    """What is wrong with the first line that is not UTF-8 (or not a JSON object), if any.

    Only on the failure path: the readers' own messages do not say where.
    """
    if kind == "parquet":
        return None
    offset = 0 if kind == "jsonl" else -1  # a CSV's first line is its header
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            where = f"row {number + offset}" if number + offset > 0 else "header"
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (
                    f"{where}: not UTF-8 text at byte {exc.start} (GBK or Latin-1? "
                    "save the file as UTF-8)"
                )
            if kind == "jsonl" and text.strip():
                try:
                    parsed = json.loads(text)
                except json.JSONDecodeError as exc:
                    return f"{where}: not valid JSON ({exc.msg} at column {exc.colno})"
                if not isinstance(parsed, dict):
                    return f"{where}: expected a JSON object, found {type(parsed).__name__}"
                nested = [k for k, v in parsed.items() if isinstance(v, dict | list)]
                if nested:
                    return f"{where}: field {nested[0]!r}: expected a plain value, not a list"
    return None


def _as_text(table: pa.Table, names: list[str]) -> pa.Table:
    columns = {}
    for index, name in enumerate(names):
        column = table.column(index)
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            try:
                column = pc.cast(column, pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValidationError(
                    f"column {name!r}: expected text, numbers or dates, found {column.type}"
                ) from exc
        columns[name] = column
    return pa.table(columns)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
