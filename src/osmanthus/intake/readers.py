"""Reading a department's batch file (CSV, JSON Lines or Parquet) into an Arrow table.

Every column arrives as text (Parquet and JSON values are cast), so that validation sees
exactly what the department sent and can name the row and field of anything wrong. The
file's shape is checked here: encoding, required and unexpected columns, empty files,
files with a header and no rows, and unreadable Parquet. Each problem is one line that
names the file.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from osmanthus.errors import ValidationError

__all__ = ["OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "detect_format", "read_batch"]

REQUIRED_COLUMNS = ("national_id", "metric", "act_date", "decision_date", "source_ref")
OPTIONAL_COLUMNS = ("value", "incident_ref", "severity")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_BLOCK = 64 << 20  # a single field may be large; it is refused by length, not by the reader
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def detect_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file name."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise ValidationError(
            f"{path.name}: unknown file type {path.suffix or '(none)'!r} "
            f"(expected {', '.join(sorted(FORMATS))})"
        )
    return found


def read_batch(path: Path, file_format: str | None = None) -> pa.Table:
    """The batch as a table of text columns, or a one-line :class:`ValidationError`."""
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    kind = file_format or detect_format(path)
    if path.stat().st_size == 0:
        raise ValidationError(f"{path.name}: the file is empty (expected a header row)")
    if kind != "parquet":
        _check_text_start(path)
    try:
        table = _read(path, kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise ValidationError(
            f"{path.name}: not a readable {kind} file: {_first_line(exc)}"
        ) from exc
    return _shape(path, table)


def _check_text_start(path: Path) -> None:
    with path.open("rb") as handle:
        start = handle.read(4)
    if start.startswith(_UTF16_BOMS):
        raise ValidationError(f"{path.name}: expected UTF-8 text, found a UTF-16 byte-order mark")


def _read(path: Path, kind: str) -> pa.Table:
    if kind == "parquet":
        return pq.read_table(path)
    if kind == "jsonl":
        return pa_json.read_json(path, read_options=pa_json.ReadOptions(block_size=_BLOCK))
    with path.open("rb") as handle:
        header = handle.readline().decode("utf-8", errors="replace").lstrip("\ufeff")
    names = [name.strip() for name in header.rstrip("\r\n").split(",")]
    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=_BLOCK),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
        ),
    )


def _shape(path: Path, table: pa.Table) -> pa.Table:
    names = [name.lstrip("\ufeff").strip() for name in table.column_names]
    table = table.rename_columns(names)
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise ValidationError(f"{path.name}: missing column(s): {', '.join(missing)}")
    extra = [name for name in names if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if extra:
        raise ValidationError(
            f"{path.name}: unexpected column(s): {', '.join(extra)} (a batch carries only "
            f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)})"
        )
    if table.num_rows == 0:
        raise ValidationError(f"{path.name}: no data rows (only a header)")
    columns = {}
    for name in names:
        column = table.column(name)
        if not pa.types.is_string(column.type):
            column = pc.cast(column, pa.string())
        columns[name] = column
    return pa.table(columns)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
