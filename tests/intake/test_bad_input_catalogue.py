"""The bad-input catalogue (issue 18): every bad batch file through the CLI and over HTTP.

Each file of :func:`catalogue` goes through ``osmanthus intake FILE --department D`` (the
CLI runner, on the test's ledger) and ``POST /api/v1/batches`` (the department's key),
on SQLite and on PostgreSQL. A file that cannot be read is refused in one line: the CLI
exits 1 and prints exactly one ``error:`` line naming the file; the API answers 400, 413
or 422 with the one error envelope, whose message says the same. A readable file with
bad rows is refused as a batch: the CLI exits 1 and prints the outcome and one line per
problem; the API answers 200 with the ``refused`` outcome and its problems (the report
is the answer, as ``tests/web/test_console.py`` shows). Either way no traceback, no
record written, no batch row for a file that could not be read (a refused outcome for
bad rows, as ``tests/intake/test_bad_input.py`` accepts; for prohibited data, also its
``intake.refused_prohibited`` audit entry), and memory stays bounded.

The library-level checks of most of these files, with their exact messages, are in
``test_bad_input.py``; this module reuses its helpers.
"""

from __future__ import annotations

import gzip
import io
import json
import resource
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import typer.main
import typer.testing
from fastapi.testclient import TestClient
from test_bad_input import (
    BAD_DATE,
    BAD_ID,
    BAD_REF,
    HEADER,
    bad_check_digit,
    csv_text,
    fields,
    header_only_parquet,
    jsonl_text,
    person,
)
from typer.testing import CliRunner

from factories import POLICY_DIR, TEST_KEY, approve_policy, make_id, table_count
from osmanthus.cli import app
from osmanthus.ledger import Ledger
from osmanthus.settings import get_settings
from osmanthus.web import create_app, create_key

NUMBER = make_id(sequence=1)  # the resident ``person`` registers
PROHIBITED = "intake.refused_prohibited"
CONTENT_TYPES = {
    ".csv": "text/csv",
    ".jsonl": "application/x-ndjson",
    ".ndjson": "application/x-ndjson",
    ".parquet": "application/vnd.apache.parquet",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".txt": "text/plain",
}
#: Bytes of content that is not a batch, as departments have been known to send it.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(range(256))
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504  # Excel 97-2003 (.xls)
GIB = 1 << 30


@dataclass(frozen=True)
class Bad:
    """One bad batch file and what its refusal must say."""

    name: str  # the file's name: its extension picks the reader
    data: bytes
    fragment: str  # in the one error line (a file) or in one problem line (bad rows)
    rows: bool = False  # a readable file with bad rows: a refused outcome, not an error
    problems: int = 1  # the problems reported (``rows`` only)
    http: str | None = None  # the API's fragment, where it differs from the CLI's
    department: str = "traffic-police"
    prohibited: bool = False  # refused as prohibited data: audited, the outcome stored


# -- building the files -----------------------------------------------------------------


def csv_row(**overrides: str) -> bytes:
    return csv_text([fields(NUMBER, **overrides)]).encode()


def jsonl_row(**overrides: str) -> bytes:
    return jsonl_text([fields(NUMBER, **overrides)]).encode()


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


def parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def gzip_bomb(size: int) -> bytes:
    """A gzip stream of ``size`` zero bytes (a multiple of 1 MiB) in about size / 1000
    bytes: one deflate block of 1 MiB of zeros, ended by a full flush so that it stands
    alone, repeated (building it costs milliseconds; inflating it would cost ``size``)."""
    block = 1 << 20
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflate.compress(b"\x00" * block) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // block):
        crc = zlib.crc32(b"\x00" * block, crc)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + body * (size // block) + end + trailer


def null_across_blocks() -> bytes:
    """Rows, then a ``null`` row whose first three bytes end the first 1 MiB block read."""
    row = jsonl_row()
    rows, pad = divmod((1 << 20) - 3, len(row))
    return row * rows + (b" " * (pad - 1) + b"\n" if pad else b"") + b"null\n" + row


def catalogue() -> list[Bad]:
    good = fields(NUMBER)
    second = fields(NUMBER, "TP-2")
    one = csv_text([good])
    header = ",".join(HEADER)
    values = [*second.values(), "extra"]
    without = {k: v for k, v in second.items() if k != "source_ref"}
    full = pa.Table.from_pylist([fields(NUMBER, f"TP-{i}") for i in range(100)])
    as_parquet = parquet(full)
    wide = NUMBER.translate({ord(d): chr(0xFF10 + int(d)) for d in "0123456789"})
    deep_field = '{"national_id": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    nul_json = jsonl_row(source_ref="TP-1").replace(b"TP-1", b"TP\x001")
    return [
        # -- empty ------------------------------------------------------------------------
        Bad("empty.csv", b"", "the file is empty (expected a header row)"),
        Bad("empty.jsonl", b"", "the file is empty (expected rows)"),
        Bad("empty.parquet", b"", "the file is empty (expected rows)"),
        Bad("blank-lines.csv", b"\n\r\n \n", "the file is empty (expected a header row)"),
        Bad("blank-lines.ndjson", b"\n\n\n", "the file is empty (expected rows)"),
        Bad("header-only.csv", (header + "\n").encode(), "no data rows (only a header)"),
        Bad("header-blank-lines.csv", (header + "\r\n\r\n\n").encode(), "no data rows"),
        Bad("header-only.parquet", header_only_parquet(), "no data rows (only a header)"),
        # -- encoding ---------------------------------------------------------------------
        Bad(
            "gbk.csv",
            csv_text([good, fields(NUMBER, "交警-1")]).encode("gbk"),
            "row 2: not UTF-8 text at byte ",
        ),
        Bad(
            "latin-1.jsonl",
            jsonl_row(source_ref="Café-1").replace(b"\xc3\xa9", b"\xe9"),
            "row 1: not UTF-8 text at byte ",
        ),
        Bad(
            "utf-16-le-bom.csv",
            ("\ufeff" + one).encode("utf-16-le"),
            "expected UTF-8 text, found a UTF-16 byte-order mark",
        ),
        Bad(
            "utf-16-be-bom.jsonl",
            ("\ufeff" + jsonl_text([good])).encode("utf-16-be"),
            "expected UTF-8 text, found a UTF-16 byte-order mark",
        ),
        Bad("utf-16-no-bom.csv", one.encode("utf-16-le"), "UTF-16 without a byte-order mark?"),
        # -- columns ----------------------------------------------------------------------
        Bad(
            "missing-column.csv",
            csv_text([good], tuple(n for n in HEADER if n != "act_date")).encode(),
            "missing column(s): act_date",
        ),
        Bad(
            "extra-column.csv",
            csv_text([{**good, "remarks": "late"}], (*HEADER, "remarks")).encode(),
            "unexpected column(s): remarks (a batch carries only national_id,",
        ),
        Bad(
            "repeated-column.csv",
            csv_text([good], (*HEADER, "metric")).encode(),
            "repeated column(s): metric",
        ),
        Bad(
            "short-row.csv",
            (one + ",".join(values[:2]) + "\n").encode(),
            "row 2: expected 6 fields, found 2",
        ),
        Bad(
            "long-row.csv",
            (one + ",".join(values) + "\n").encode(),
            "row 2: expected 6 fields, found 7",
        ),
        Bad(
            "header-over-64-kib.csv",
            b"x" * 200_000 + b"\n1\n",
            "header: longer than 65,536 bytes",
        ),
        Bad(
            "5000-columns.csv",
            ",".join(f"c{i}" for i in range(5_000)).encode() + b"\n1\n",
            "header: 5,000 columns, at most 64",
        ),
        Bad(
            "65-columns.csv",
            ",".join([*HEADER, *(f"c{i}" for i in range(59))]).encode() + b"\n" + one.encode(),
            "header: 65 columns, at most 64",
        ),
        Bad(
            "religion-column.csv",
            csv_text([{**good, "religion": "none"}], (*HEADER, "religion")).encode(),
            "column 'religion' is prohibited data",
            prohibited=True,
        ),
        # -- content that is not a batch under a batch's name ------------------------------
        Bad(
            "gzip.csv",
            gzip.compress(one.encode()),
            "expected UTF-8 text, found gzip-compressed data (decompress it first)",
        ),
        Bad(
            "gzip-bomb.csv",  # 1 GiB of zeros in 1 MB: refused by its first bytes
            gzip_bomb(GIB),
            "expected UTF-8 text, found gzip-compressed data (decompress it first)",
        ),
        Bad(
            "zip.csv",
            zipped("batch.csv", one.encode()),
            "expected UTF-8 text, found a ZIP archive (unpack it first)",
        ),
        Bad(
            "zip.jsonl",
            zipped("batch.jsonl", jsonl_row()),
            "expected UTF-8 text, found a ZIP archive (unpack it first)",
        ),
        Bad("png.csv", PNG, "expected UTF-8 text, found a PNG image"),
        Bad("png.jsonl", PNG, "expected UTF-8 text, found a PNG image"),
        Bad("jpeg.csv", JPEG, "expected UTF-8 text, found a JPEG image"),
        Bad("pdf.csv", PDF, "expected UTF-8 text, found a PDF document"),
        Bad("pdf.jsonl", PDF, "expected UTF-8 text, found a PDF document"),
        Bad("xls.csv", OLE2, "expected UTF-8 text, found an old Excel or Word file"),
        Bad("parquet.csv", as_parquet, "expected UTF-8 text, found a Parquet file"),
        Bad("parquet.jsonl", as_parquet, "expected UTF-8 text, found a Parquet file"),
        # -- JSON Lines that cannot be read ------------------------------------------------
        Bad(
            "not-json.jsonl",
            jsonl_row() + b"{not json\n",
            "row 2: not valid JSON (Expecting property name enclosed in double quotes",
        ),
        Bad(
            "missing-field-everywhere.jsonl",
            jsonl_text([{k: v for k, v in good.items() if k != "source_ref"}]).encode(),
            "missing column(s): source_ref",
        ),
        Bad(
            "field-changes-type.jsonl",
            jsonl_text([good, {**second, "source_ref": 2}]).encode(),
            "row 2: field 'source_ref': a number here, text in row 1",
        ),
        Bad(
            "deep-nesting.jsonl",
            b"[" * 100_000 + b"\n",
            "row 1: nested too deeply (a batch row is one flat JSON object)",
        ),
        Bad(
            "deep-nesting-in-a-field.jsonl",
            jsonl_row() + deep_field.encode(),
            "row 2: nested too deeply (a batch row is one flat JSON object)",
        ),
        Bad(
            "raw-nul.jsonl",
            nul_json,
            "row 1: not valid JSON (Invalid control character at column",
        ),
        Bad(
            "json-array.jsonl",
            json.dumps([good, second]).encode(),
            "row 1: expected a JSON object, found a JSON array (JSON Lines: one object per line)",
        ),
        Bad(
            "json-array-indented.jsonl",
            json.dumps([good, second], indent=2).encode(),
            "row 1: expected a JSON object, found a JSON array (JSON Lines: one object per line)",
        ),
        Bad(
            "null-first-row.jsonl",  # crashed the process: Arrow's JSON reader segfaulted
            b"null\n" + jsonl_row(),
            "row 1: expected a JSON object, found null",
        ),
        Bad(
            "null-row.jsonl",
            jsonl_row() + b"\t null\r\n",
            "row 2: expected a JSON object, found null",
        ),
        Bad(
            "null-row-across-read-blocks.jsonl",  # "nul" ends the first MiB read, "l" follows
            null_across_blocks(),
            "expected a JSON object, found null",
        ),
        Bad(
            "number-line.jsonl",
            jsonl_row() + b"42\n",
            "row 2: expected a JSON object, found a number",
        ),
        Bad(
            "object-in-a-field.jsonl",
            jsonl_text([{**good, "value": {"hours": 3}}]).encode(),
            "row 1: field 'value': expected a plain value, not a list or object",
        ),
        Bad(
            "list-with-a-leading-null.jsonl",  # Arrow builds such a list wrongly
            jsonl_text([{**good, "value": [None, 1]}]).encode(),
            "row 1: field 'value': expected a plain value, not a list or object",
        ),
        # -- Parquet that cannot be read ---------------------------------------------------
        Bad("truncated.parquet", as_parquet[:-100], "not a readable parquet file: "),
        Bad(
            "wrong-column-type.parquet",
            parquet(full.set_column(0, "national_id", pa.array([[NUMBER]] * 100))),
            "column 'national_id': expected text, numbers or dates, found list<",
        ),
        Bad(
            "missing-column.parquet",
            parquet(full.drop_columns(["act_date"])),
            "missing column(s): act_date",
        ),
        Bad("csv-content.parquet", one.encode(), "not a readable parquet file: "),
        # -- file types ---------------------------------------------------------------------
        Bad(
            "batch.xlsx",
            zipped("xl/workbook.xml", b"<workbook/>"),
            "unknown file type '.xlsx' (expected .csv, .jsonl, .ndjson, .parquet)",
            http="content-type: expected one of text/csv,",
        ),
        Bad(
            "batch.txt",
            one.encode(),
            "unknown file type '.txt'",
            http="content-type: expected one of text/csv,",
        ),
        # -- readable files with bad rows: the batch is refused, each problem reported ------
        Bad(
            "invalid-date.csv",
            csv_row(act_date="2026-1-5"),
            f"row 1: act_date: {BAD_DATE}",
            rows=True,
        ),
        Bad(
            "impossible-date.csv",
            csv_row(act_date="2026-02-30"),
            f"row 1: act_date: {BAD_DATE}",
            rows=True,
        ),
        Bad(
            "impossible-decision-date.jsonl",
            jsonl_row(decision_date="2026-04-31"),
            f"row 1: decision_date: {BAD_DATE}",
            rows=True,
        ),
        Bad(
            "future-act-date.csv",  # the decision, not before the act, is in the future too
            csv_row(act_date="2099-01-01", decision_date="2099-01-02"),
            "row 1: act_date: in the future (today is ",
            rows=True,
            problems=2,
        ),
        Bad(
            "decision-before-act.csv",
            csv_row(act_date="2026-06-03", decision_date="2026-06-01"),
            "row 1: decision_date: before the act date",
            rows=True,
        ),
        Bad(
            "bad-check-digit.csv",
            csv_row(national_id=bad_check_digit(NUMBER)),
            f"row 1: national_id: {BAD_ID}",
            rows=True,
        ),
        Bad(
            "id-too-short.csv",
            csv_row(national_id=NUMBER[:17]),
            f"row 1: national_id: {BAD_ID}",
            rows=True,
        ),
        Bad(
            "id-too-long.jsonl",
            jsonl_row(national_id=NUMBER + "0"),
            f"row 1: national_id: {BAD_ID}",
            rows=True,
        ),
        Bad(
            "full-width-id.csv",
            csv_row(national_id=wide),
            f"row 1: national_id: {BAD_ID}",
            rows=True,
        ),
        Bad(
            "unknown-metric.csv",
            csv_row(metric="no_such_metric"),
            "row 1: metric: unknown metric in policy",
            rows=True,
        ),
        Bad(
            "metric-of-another-department.csv",
            csv_row(metric="tax_arrears"),
            "row 1: metric: department 'traffic-police' may not report it (allowed: tax)",
            rows=True,
        ),
        Bad(
            "negative-volunteer-hours.csv",
            csv_row(metric="volunteer_hours", value="-3"),
            "row 1: value: outside the range of volunteer_hours: 0 to 744 hour",
            rows=True,
            department="volunteer-registry",
        ),
        Bad(
            "non-numeric-value.csv",
            csv_row(value="three"),
            "row 1: value: expected a number",
            rows=True,
        ),
        Bad(
            "nul-in-a-field.csv",
            csv_row(source_ref="TP\x001"),
            f"row 1: source_ref: {BAD_REF}",
            rows=True,
        ),
        Bad(
            "escaped-nul.jsonl",
            jsonl_row(source_ref="TP\x001"),
            f"row 1: source_ref: {BAD_REF}",
            rows=True,
        ),
        Bad(
            "over-long-source-ref.csv",
            csv_row(source_ref="R" * 129),
            f"row 1: source_ref: {BAD_REF}",
            rows=True,
        ),
        Bad(
            "missing-field.jsonl",
            jsonl_text([good, without]).encode(),
            f"row 2: source_ref: {BAD_REF}",
            rows=True,
        ),
        Bad(
            "repeated-source-ref.csv",
            csv_text([good, good]).encode(),
            "row 2: source_ref: repeats an earlier row of this batch",
            rows=True,
        ),
        Bad(
            "unknown-action.csv",
            csv_text([{**good, "action": "delete"}], (*HEADER, "action")).encode(),
            "row 1: action: expected one of report, correct, retract",
            rows=True,
        ),
        Bad(
            "religion-metric.csv",
            csv_row(metric="religion"),
            "row 1: metric: metric 'religion' is prohibited data",
            rows=True,
            prohibited=True,
        ),
    ]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Bad, Path]]:
    """The catalogue, written once for the module."""
    folder = tmp_path_factory.mktemp("bad-files")
    found = []
    for bad in catalogue():
        path = folder / bad.name
        path.write_bytes(bad.data)
        found.append((bad, path))
    return found


# -- the two ways in --------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """What a submission may have written."""

    records: int
    batches: int
    refused: int  # batch rows with status refused
    prohibited: int  # audit entries of refused prohibited data

    @classmethod
    def now(cls, ledger: Ledger) -> Written:
        queries = (
            "SELECT count(*) FROM records",
            "SELECT count(*) FROM batches",
            "SELECT count(*) FROM batches WHERE status = 'refused'",
            f"SELECT count(*) FROM audit_log WHERE action = '{PROHIBITED}'",
        )
        with ledger.engine.connect() as conn:
            records, batches, refused, prohibited = (
                int(conn.execute(sa.text(query)).scalar_one()) for query in queries
            )
        return cls(records, batches, refused, prohibited)


def written_wrongly(bad: Bad, before: Written, after: Written) -> list[str]:
    """Nothing written but the refused outcome of bad rows (or of prohibited data) and the
    audit entry of prohibited data."""
    stored = int(bad.rows or bad.prohibited)
    expected = Written(
        before.records,
        before.batches + stored,
        before.refused + stored,
        before.prohibited + int(bad.prohibited),
    )
    return [] if after == expected else [f"wrote {after}, expected {expected}"]


def through_cli(bad: Bad, path: Path, env: dict[str, str]) -> list[str]:
    result = CliRunner().invoke(app, ["intake", str(path), "--department", bad.department], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return [f"crashed: {result.exception!r}"]
    failures = []
    if result.exit_code != 1:
        failures.append(f"exit code {result.exit_code}")
    if "Traceback" in result.output:
        failures.append("printed a traceback")
    lines = [line for line in result.output.splitlines() if line.strip()]
    if bad.rows:
        summary, *problems = lines or [""]
        if ": refused;" not in summary or len(problems) != bad.problems:
            failures.append(f"expected a refused outcome and {bad.problems} problem(s)")
        if not any(bad.fragment in line for line in problems):
            failures.append(f"no problem line says {bad.fragment!r}")
    elif len(lines) != 1 or not lines[0].startswith(f"error: {bad.name}: "):
        failures.append("expected one line 'error: <file name>: ...'")
    elif bad.fragment not in lines[0]:
        failures.append(f"the error does not say {bad.fragment!r}")
    return [f"{f}; printed {result.output!r}"[:600] for f in failures]


def over_http(bad: Bad, path: Path, client: TestClient, key: str, batch_id: str) -> list[str]:
    headers = {"Authorization": f"Bearer {key}"}
    if path.suffix in CONTENT_TYPES:
        headers["content-type"] = CONTENT_TYPES[path.suffix]
    try:
        response = client.post(
            "/api/v1/batches",
            content=path.read_bytes(),
            params={"batch_id": batch_id},
            headers=headers,
        )
    except Exception as exc:  # the app's own handler answered 500; the client re-raises
        return [f"crashed: {exc!r}"]
    body = response.json()
    shown = f"answered {response.status_code} {response.text[:400]!r}"
    if bad.rows:
        problems = [
            f"row {p['row']}: {p['field']}: {p['reason']}" for p in body.get("problems", [])
        ]
        if response.status_code != 200 or (body["status"], body["accepted"]) != ("refused", 0):
            return [f"expected the refused outcome; {shown}"]
        if len(problems) != bad.problems or not any(bad.fragment in p for p in problems):
            return [f"expected {bad.problems} problem(s), one saying {bad.fragment!r}; {shown}"]
        return []
    fragment = bad.http or bad.fragment
    if response.status_code not in (400, 413, 422):
        return [f"expected 400, 413 or 422; {shown}"]
    envelope = {
        "ok": False,
        "error": body.get("error"),
        "errors": [],
        "status": response.status_code,
    }
    if body != envelope or "\n" in str(body["error"]):
        return [f"expected the one error envelope; {shown}"]
    if fragment not in body["error"]:
        return [f"the error does not say {fragment!r}; {shown}"]
    return []


def max_rss() -> int:
    """The process's peak resident memory so far, in bytes (Linux counts KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- the tests --------------------------------------------------------------------------


def test_the_catalogue_holds_at_least_40_distinct_bad_files(
    bad_files: list[tuple[Bad, Path]],
) -> None:
    names = [bad.name for bad, _ in bad_files]
    assert len(set(names)) == len(names) >= 40
    assert len({bad.data for bad, _ in bad_files if bad.data}) >= 40
    assert sum(not bad.rows for bad, _ in bad_files) >= 40  # files that cannot be read


def test_the_gzip_bomb_inflates_to_a_gibibyte_of_zeros(bad_files: list[tuple[Bad, Path]]) -> None:
    bomb = next(path for bad, path in bad_files if bad.name == "gzip-bomb.csv")
    inflate = zlib.decompressobj(31)
    assert inflate.decompress(bomb.read_bytes()[:4096], 1 << 20) == b"\x00" * (1 << 20)
    assert bomb.stat().st_size < GIB // 500
    assert struct.unpack("<I", bomb.read_bytes()[-4:]) == (GIB & 0xFFFFFFFF,)


@pytest.fixture
def client(ledger: Ledger, tmp_path: Path) -> Iterator[TestClient]:
    settings = get_settings(demo_mode=True, data_dir=tmp_path, upkeep_process=False)
    with TestClient(create_app(settings, ledger)) as test_client:
        yield test_client


def test_every_bad_file_is_refused_clearly_by_the_cli_and_over_http(
    ledger: Ledger,
    db_url: str,
    client: TestClient,
    tmp_path: Path,
    bad_files: list[tuple[Bad, Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the runner rebuilds the whole command tree from the app on every invoke (0.1 s,
    # half of each run here): build it once
    command = typer.main.get_command(app)
    monkeypatch.setattr(typer.testing, "_get_command", lambda _: command)
    person(ledger)
    approve_policy(ledger, population_dir=tmp_path / "population")  # the CLI reads it
    keys = {
        department: create_key(
            ledger.engine, role="department", name=department, department=department
        )
        for department in sorted({bad.department for bad, _ in bad_files})
    }
    env = {
        "OSMANTHUS_DATABASE_URL": db_url,
        "OSMANTHUS_PSEUDONYM_KEY": TEST_KEY.decode(),
        "OSMANTHUS_DATA_DIR": str(tmp_path / "var"),
        "OSMANTHUS_POLICY_DIR": str(POLICY_DIR),
    }
    failures: list[str] = []
    # ru_maxrss is the process's high-water mark: its growth over the whole catalogue
    # bounds the peak memory any one refusal (CLI or HTTP, reader, checks and both
    # databases' work) took beyond what the process already held: the 1 GiB gzip bomb
    # inflated, the 100,000-deep JSON parsed into a tree, the 5,000-column table built
    # or the 200 KB header line read whole would each show here.
    before = max_rss()
    for index, (bad, path) in enumerate(bad_files):
        for way in ("CLI", "HTTP"):
            ahead = Written.now(ledger)
            if way == "CLI":
                found = through_cli(bad, path, env)
            else:
                found = over_http(bad, path, client, keys[bad.department], f"http-{index}")
            found += written_wrongly(bad, ahead, Written.now(ledger))
            failures += [f"{bad.name} ({way}): {failure}" for failure in found]
    grown = max_rss() - before
    assert not failures, "\n".join(failures)
    assert table_count(ledger, "records") == 0
    assert grown < 300 * 1024 * 1024, f"peak memory grew by {grown / 2**20:.0f} MiB"
