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

import codecs
import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from osmanthus.errors import ProhibitedData, ValidationError
from osmanthus.policy.charter import prohibited_data, prohibited_refusal

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
#: Rows checked and written at a time (settings: intake_chunk_rows). In one process
#: running submit_batch on a 150 MB CSV (2.1 M rows; 2026-12-07, 119 MiB before the
#: call): peak 505 MiB at 50,000 rows with 1 MiB blocks and a 64 MiB page cache, 362 MiB
#: at 20,000 rows with 512 KiB blocks and a 16 MiB cache (the write holds about 2 KB a
#: row of the chunks in flight), at about a tenth more time.
CHUNK_ROWS = 20_000
#: Arrow's read block. The reader's memory follows it (its read-ahead and parallel
#: parsing hold several blocks): a 216 MB CSV through the whole of ``submit_batch``
#: peaked at 1,003 MiB with 16 MiB blocks, 678 MiB with 4 MiB, 544 MiB with 2 MiB and
#: 434 MiB with 1 MiB (one process, 115 MiB of it the imports; 2026-12-06); 512 KiB took
#: another 8 to 11 MiB off (2026-12-07). A row must fit in a block: longer lines are
#: refused first (:data:`MAX_LINE`).
_BLOCK_SIZE = 1 << 19
#: The longest line a batch may hold: a row is a few hundred bytes. Lines from twice
#: :data:`_LINE_WINDOW` are refused, from three times it always (the check looks for
#: two consecutive windows without a line break), well inside one read block.
_LINE_WINDOW = 128 << 10
MAX_LINE = 2 * _LINE_WINDOW
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_BOM = "\ufeff"
#: The longest header line read (a real one is about 100 characters) and the most
#: columns a header may name (a batch carries 11 at most): beyond them the file is refused
#: before any reader builds a table of that width.
MAX_HEADER = 65_536
MAX_COLUMNS = 64
#: Magic numbers of compressed or binary files a department might send under a text
#: extension.
_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed data (decompress it first)"),
    (b"PK\x03\x04", "a ZIP archive (unpack it first)"),
    (b"BZh", "bzip2-compressed data (decompress it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (decompress it first)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data (decompress it first)"),
    (b"PAR1", "a Parquet file (name it .parquet)"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Excel or Word file (save it as CSV)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
)
#: A JSON line that is an array, or no object at all, as a department would say it.
_JSON_ARRAY = "expected a JSON object, found a JSON array (JSON Lines: one object per line)"
_JSON_KINDS = {str: "text", int: "a number", float: "a number", bool: "true or false"}


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
    _chunks: Iterator[pa.Table] = field(repr=False)
    chunk_rows: int = CHUNK_ROWS
    rows_read: int = 0

    def chunks(self) -> Iterator[pa.Table]:
        """Chunks of at most ``chunk_rows`` rows as tables of text columns; raises at the
        end if there were no rows at all."""
        for chunk in _rechunked(self._chunks, self.chunk_rows):
            self.rows_read += chunk.num_rows
            try:
                text = _as_text(chunk, self.columns)
            except ValidationError as exc:  # a list or object where text belongs
                found = _first_bad_line(self.path, self.format) or str(exc)
                raise ValidationError(f"{self.path.name}: {found}") from None
            yield text
        if self.rows_read == 0:
            raise ValidationError(f"{self.path.name}: no data rows (only a header)")


def _rechunked(blocks: Iterator[pa.Table], rows: int) -> Iterator[pa.Table]:
    """The readers' blocks (small for the readers' memory) as chunks of ``rows`` rows
    (large for the writer: one ``INSERT ... SELECT`` each), the last one shorter."""
    pending: list[pa.Table] = []
    held = 0
    for block in blocks:
        pending.append(block)
        held += block.num_rows
        if held < rows:
            continue
        table = pa.concat_tables(pending)
        start = 0
        while held - start >= rows:
            yield table.slice(start, rows).combine_chunks()
            start += rows
        pending, held = [table.slice(start)], held - start
    if held:
        yield pa.concat_tables(pending).combine_chunks()


def open_batch(
    path: Path, file_format: str | None = None, *, chunk_rows: int = CHUNK_ROWS
) -> BatchFile:
    """Open ``path`` and check its shape; reading the rows happens as chunks are taken."""
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    kind = file_format or detect_format(path)
    size = path.stat().st_size
    if size == 0 or (kind != "parquet" and _blank(path)):
        expected = "a header row" if kind == "csv" else "rows"
        raise ValidationError(f"{path.name}: the file is empty (expected {expected})")
    opener = {"csv": _open_csv, "jsonl": _open_jsonl, "parquet": _open_parquet}[kind]
    if kind != "parquet":
        _check_text_start(path)
        _check_utf8(path, kind)
    try:
        names, total, chunks = opener(path, chunk_rows)
    except _UNREADABLE as exc:
        raise _unreadable(path, kind, exc) from exc
    columns = _check_columns(path, names)
    return BatchFile(path, kind, columns, total, _guarded(path, kind, chunks), chunk_rows)


def read_batch(path: Path, file_format: str | None = None) -> pa.Table:
    """The whole batch as one table of text columns (for small files and tests)."""
    batch = open_batch(path, file_format)
    return pa.concat_tables(list(batch.chunks()))


def _blank(path: Path) -> bool:
    """True when the file holds nothing but whitespace (it is read only that far)."""
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            if block.strip():
                return False
    return True


def _check_text_start(path: Path) -> None:
    with path.open("rb") as handle:
        start = handle.read(1 << 16)
    for magic, what in _MAGIC:
        if start.startswith(magic):
            raise ValidationError(f"{path.name}: expected UTF-8 text, found {what}")
    if start.startswith(_UTF16_BOMS):
        raise ValidationError(f"{path.name}: expected UTF-8 text, found a UTF-16 byte-order mark")
    if b"\x00" in start[:2] and start.count(0) * 4 >= len(start):  # every other byte
        raise ValidationError(
            f"{path.name}: expected UTF-8 text, found NUL bytes at the start "
            "(UTF-16 without a byte-order mark?)"
        )


def _check_utf8(path: Path, kind: str) -> None:
    """Refuse a text file that is not UTF-8 throughout, naming the row: Arrow's CSV
    reader would otherwise fail inside its own callback, where the error cannot be
    caught (one pass over the file, about 1 GB/s; the row is found only on failure).
    In the same pass, refuse JSON Lines with a row that starts with ``null``, which
    crashes Arrow's JSON reader (see :func:`_null_row`)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    head, null_row = b"", False  # the start of the last line so far (JSON Lines)
    unbroken = 0  # consecutive windows without a line break
    with path.open("rb") as handle:
        try:
            for block in iter(lambda: handle.read(1 << 20), b""):
                decoder.decode(block)
                for at in range(0, len(block), _LINE_WINDOW):
                    window = block[at : at + _LINE_WINDOW]
                    if len(window) == _LINE_WINDOW and b"\n" not in window and b"\r" not in window:
                        unbroken += 1
                        if unbroken == 2:
                            raise ValidationError(f"{path.name}: {_long_line(path, kind)}")
                    else:
                        unbroken = 0
                if kind == "jsonl" and not null_row:
                    data = head + block
                    null_row = _null_row(data)
                    rest = data[max(data.rfind(b"\n"), data.rfind(b"\r")) + 1 :].lstrip(b" \t")
                    head = rest if len(rest) < len(b"null") else b"x"  # "x": decided
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            found = _first_bad_line(path, kind) or "not UTF-8 text (save the file as UTF-8)"
            raise ValidationError(f"{path.name}: {found}") from None
    if null_row:
        found = _first_bad_line(path, kind) or "a row is null (expected a JSON object)"
        raise ValidationError(f"{path.name}: {found}")


def _long_line(path: Path, kind: str) -> str:
    """Where the first line of at least :data:`MAX_LINE` bytes is (failure path only)."""
    offset = 0 if kind == "jsonl" else -1  # a CSV's first line is its header
    with path.open("rb") as handle:
        for number, line in enumerate(iter(lambda: handle.readline(MAX_LINE), b""), start=1):
            if len(line) >= MAX_LINE and not line.endswith((b"\n", b"\r")):
                where = f"row {number + offset}" if number + offset > 0 else "header"
                return (
                    f"{where}: longer than {MAX_LINE:,} bytes (a row of a batch is a few "
                    "hundred bytes)"
                )
    return f"a line longer than {MAX_LINE:,} bytes"


_BLANKS = re.compile(rb"[ \t]*")


def _null_row(data: bytes) -> bool:
    """True when a line of ``data`` starts with ``null`` (after blanks). Arrow's JSON
    reader dereferences a null pointer on a block that starts with it (a segmentation
    fault, not an exception: apache/arrow#47409), and any line may start a block (it
    breaks lines at CR as well as LF). Lines start with ``{`` in a batch: only those
    that start with ``n`` or a blank are looked at in Python (about 2 GB/s)."""
    if not data:
        return False
    codes = np.frombuffer(data, dtype=np.uint8)
    starts = np.flatnonzero((codes[:-1] == ord("\n")) | (codes[:-1] == ord("\r"))) + 1
    starts = np.concatenate(([0], starts))
    first = codes[starts]
    suspects = starts[(first == ord("n")) | (first == ord(" ")) | (first == ord("\t"))]
    return any(data.startswith(b"null", _after_blanks(data, int(at))) for at in suspects)


def _after_blanks(data: bytes, at: int) -> int:
    found = _BLANKS.match(data, at)  # always matches, perhaps nothing
    return found.end() if found else at


def _check_columns(path: Path, raw: list[str]) -> list[str]:
    names = [name.lstrip(_BOM).strip() for name in raw]
    for name in names:
        found = prohibited_data(None, name)
        if found:
            raise ProhibitedData(
                f"{path.name}: {prohibited_refusal(found, f'column {name!r}')}", category=name
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
#: What the libraries raise on bytes they cannot read (a column name that is not UTF-8
#: comes out of Arrow as a UnicodeDecodeError): each becomes one line naming the file.
_UNREADABLE = (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeError)


def _open_parquet(path: Path, chunk_rows: int) -> Opened:
    handle = pq.ParquetFile(path)
    total = handle.metadata.num_rows
    batches = handle.iter_batches(batch_size=chunk_rows)
    return list(handle.schema_arrow.names), total, (pa.table(b) for b in batches)


def _csv_header(path: Path) -> list[str]:
    with path.open("rb") as handle:
        line = handle.readline(MAX_HEADER + 1)
    if len(line) > MAX_HEADER:
        raise ValidationError(
            f"{path.name}: header: longer than {MAX_HEADER:,} bytes (a batch's header names "
            f"at most {len(COLUMNS)} columns)"
        )
    header = line.decode("utf-8", errors="replace")
    try:
        fields = next(csv.reader([header.lstrip(_BOM).rstrip("\r\n")]), [])
    except csv.Error as exc:
        raise ValidationError(f"{path.name}: header: not a CSV line ({exc})") from None
    if len(fields) > MAX_COLUMNS:
        raise ValidationError(
            f"{path.name}: header: {len(fields):,} columns, at most {MAX_COLUMNS} (a batch "
            f"carries only {', '.join(COLUMNS)})"
        )
    return [name.strip() for name in fields]


def _open_csv(path: Path, chunk_rows: int) -> Opened:
    names = _csv_header(path)
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "skip"

    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=_BLOCK_SIZE, use_threads=True),
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
                number = row.number - 1 if row.number is not None else _csv_bad_row(path, names)
                where = f"row {number}: " if number is not None else ""
                raise ValidationError(
                    f"{path.name}: {where}expected {row.expected_columns} fields, "
                    f"found {row.actual_columns}"
                )
            yield pa.table(batch)

    return list(reader.schema.names), None, chunks()


def _csv_bad_row(path: Path, names: list[str]) -> int | None:
    """The first data row whose field count differs from the header's (failure path only:
    the parallel CSV reader does not number the rows it rejects)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        try:
            for number, fields in enumerate(csv.reader(handle)):
                if number and fields and len(fields) != len(names):
                    return number
        except csv.Error:  # a field too long to number the row by: the message says why
            return None
    return None


def _open_jsonl(path: Path, chunk_rows: int) -> Opened:
    # dates and numbers that are text by nature stay text (no inference of timestamps)
    text = pa.schema([(name, pa.string()) for name in ("national_id", "act_date", "decision_date")])
    reader = pa_json.open_json(
        path,
        read_options=pa_json.ReadOptions(block_size=_BLOCK_SIZE),
        parse_options=pa_json.ParseOptions(explicit_schema=text, unexpected_field_behavior="infer"),
    )
    return list(reader.schema.names), None, (pa.table(b) for b in reader)


def _guarded(path: Path, kind: str, chunks: Iterator[pa.Table]) -> Iterator[pa.Table]:
    try:
        for chunk in chunks:
            if kind == "parquet":  # a damaged file's text columns may not be UTF-8
                chunk.validate(full=True)
            yield chunk
    except _UNREADABLE as exc:
        raise _unreadable(path, kind, exc) from exc


def _unreadable(path: Path, kind: str, exc: BaseException) -> ValidationError:
    found = _first_bad_line(path, kind)
    if found:
        return ValidationError(f"{path.name}: {found}")
    return ValidationError(f"{path.name}: not a readable {kind} file: {_first_line(exc)}")


def _first_bad_line(path: Path, kind: str) -> str | None:
    """What is wrong with the first line that is not UTF-8, not a JSON object, or whose
    field changed type, if any; ``None`` when no line is to blame.

    Only on the failure path: the readers' own messages do not say where.
    """
    if kind == "parquet":
        return None
    offset = 0 if kind == "jsonl" else -1  # a CSV's first line is its header
    kinds: dict[str, tuple[str, int]] = {}  # JSON field -> (type, first row)
    lines = 0
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
            lines += bool(text.strip())
            if kind == "jsonl" and text.strip():
                found = _json_line(text, number, kinds)
                if found:
                    return f"{where}: {found}"
    if kind == "csv" and lines == 1:
        return "no data rows (only a header)"
    return None


def _json_line(text: str, number: int, kinds: dict[str, tuple[str, int]]) -> str | None:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("["):  # an array written over several lines
            return _JSON_ARRAY
        return f"not valid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"
    except RecursionError:
        return "nested too deeply (a batch row is one flat JSON object)"
    if isinstance(parsed, list):
        return _JSON_ARRAY
    if not isinstance(parsed, dict):
        return f"expected a JSON object, found {_JSON_KINDS.get(type(parsed), 'null')}"
    for name, value in parsed.items():
        if isinstance(value, dict | list):
            return f"field {name!r}: expected a plain value, not a list or object"
        if value is None:
            continue
        kind = "text" if isinstance(value, str) else "a number"
        first = kinds.setdefault(name, (kind, number))
        if first[0] != kind:
            return f"field {name!r}: {kind} here, {first[0]} in row {first[1]}"
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
        columns[name] = column.fill_null("")  # a missing JSON field is an empty one
    return pa.table(columns)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
