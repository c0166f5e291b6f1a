"""Bad input, end to end through ``submit_batch`` on a real ledger (SQLite and PostgreSQL).

Each kind of bad input gets one clear line and writes nothing it should not: a file that
cannot be read raises a :class:`ValidationError` naming the file (and the row, where
there is one) and writes neither records nor a batch row; a bad row refuses the batch
(nothing in ``records``) and is reported with its row, field, shown value and reason,
and the refused outcome is stored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from factories import OPERATOR, TODAY, make_id, table_count
from osmanthus.errors import ValidationError
from osmanthus.intake import COLUMNS, Outcome, load_outcome, submit_batch
from osmanthus.ledger import Actor, Ledger

HEADER = ("national_id", "metric", "act_date", "decision_date", "source_ref", "value")
NOT_UTF8 = "not UTF-8 text at byte {} (GBK or Latin-1? save the file as UTF-8)"
BAD_DATE = "expected a real date YYYY-MM-DD"
BAD_REF = "expected 1 to 128 characters without NUL"
BAD_ID = "not a valid national ID (length, characters, birth date or check digit)"
Row = tuple[int, str, str, str]


# -- building files ---------------------------------------------------------------------


def person(ledger: Ledger, sequence: int = 1) -> str:
    number = make_id(sequence=sequence)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    return number


def fields(number: str, ref: str = "TP-1", **overrides: str) -> dict[str, str]:
    return {
        "national_id": number,
        "metric": "failure_to_yield",
        "act_date": "2026-06-01",
        "decision_date": "2026-06-03",
        "source_ref": ref,
        "value": "1",
        **overrides,
    }


def csv_text(rows: Sequence[Mapping[str, object]], header: tuple[str, ...] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[row.get(name, "") for name in header] for row in rows])
    return out.getvalue()


def jsonl_text(rows: Sequence[Mapping[str, object]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def bad_check_digit(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


# -- submitting -------------------------------------------------------------------------


def submit(
    ledger: Ledger, path: Path, department: str = "traffic-police", **options: object
) -> Outcome:
    actor = Actor("department", department)
    return submit_batch(ledger, path, department=department, actor=actor, **options)  # type: ignore[arg-type]


def counts(ledger: Ledger) -> tuple[int, int]:
    return table_count(ledger, "records"), table_count(ledger, "batches")


def refused_file(ledger: Ledger, path: Path, **options: object) -> str:
    """Submit a file that cannot be read; return its one-line error. Nothing is written:
    no records, no batch row."""
    before = counts(ledger)
    with pytest.raises(ValidationError) as info:
        submit(ledger, path, **options)
    assert counts(ledger) == before
    message = str(info.value)
    assert "\n" not in message
    return message


def refused_rows(ledger: Ledger, path: Path, **options: object) -> list[Row]:
    """Submit a file with bad rows; return (row, field, value, reason) of each problem.
    Nothing goes into ``records``; the refused outcome and its report are stored."""
    records = table_count(ledger, "records")
    outcome = submit(ledger, path, **options)
    assert (outcome.status, outcome.accepted) == ("refused", 0)
    assert table_count(ledger, "records") == records
    with ledger.engine.connect() as conn:
        stored = load_outcome(conn, outcome.batch_id, outcome.department)
    assert (stored.status, stored.problems) == ("refused", outcome.problems)
    return [(p.row, p.field, p.value, p.reason) for p in outcome.problems]


def stored_refs(ledger: Ledger) -> list[str]:
    with ledger.engine.connect() as conn:
        found = conn.execute(sa.text("SELECT source_ref FROM records ORDER BY source_ref"))
        return [ref for (ref,) in found]


# -- encoding ---------------------------------------------------------------------------


def test_gbk_text_is_refused_naming_the_row(ledger: Ledger, tmp_path: Path) -> None:
    number = person(ledger)
    data = csv_text([fields(number, "TP-1"), fields(number, "交警-1")]).encode("gbk")
    offset = data.splitlines()[2].index("交".encode("gbk"))
    message = refused_file(ledger, write(tmp_path, "b.csv", data))
    assert message == "b.csv: row 2: " + NOT_UTF8.format(offset)


def test_utf16_with_a_byte_order_mark_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    text = "\ufeff" + csv_text([fields(person(ledger))])
    for name, encoding in (("le.csv", "utf-16-le"), ("be.csv", "utf-16-be")):
        message = refused_file(ledger, write(tmp_path, name, text.encode(encoding)))
        assert message == f"{name}: expected UTF-8 text, found a UTF-16 byte-order mark"


def test_utf16_without_a_byte_order_mark_is_named(ledger: Ledger, tmp_path: Path) -> None:
    data = csv_text([fields(person(ledger))]).encode("utf-16-le")
    message = refused_file(ledger, write(tmp_path, "b.csv", data))
    assert message.startswith("b.csv: ") and "UTF-16" in message


def test_a_utf8_byte_order_mark_is_accepted(ledger: Ledger, tmp_path: Path) -> None:
    number = person(ledger)
    files = {
        "b.csv": csv_text([fields(number, "TP-1")]),
        "b.jsonl": jsonl_text([fields(number, "TP-2")]),
    }
    for name, text in files.items():
        outcome = submit(ledger, write(tmp_path, name, b"\xef\xbb\xbf" + text.encode()))
        assert (outcome.status, outcome.accepted, outcome.problems) == ("committed", 1, [])
    assert stored_refs(ledger) == ["TP-1", "TP-2"]


# -- columns ----------------------------------------------------------------------------


def test_a_missing_column_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    header = tuple(name for name in HEADER if name != "act_date")
    path = write(tmp_path, "b.csv", csv_text([fields(person(ledger))], header))
    assert refused_file(ledger, path) == "b.csv: missing column(s): act_date"


def test_an_extra_column_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    row = fields(person(ledger), remarks="late")
    path = write(tmp_path, "b.csv", csv_text([row], (*HEADER, "remarks")))
    assert refused_file(ledger, path) == (
        f"b.csv: unexpected column(s): remarks (a batch carries only {', '.join(COLUMNS)})"
    )


def test_a_repeated_column_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", csv_text([fields(person(ledger))], (*HEADER, "metric")))
    assert refused_file(ledger, path) == "b.csv: repeated column(s): metric"


def test_a_row_with_too_few_or_too_many_fields_names_the_row(
    ledger: Ledger, tmp_path: Path
) -> None:
    number = person(ledger)
    good = csv_text([fields(number)])
    values = [*fields(number, "TP-2").values(), "extra"]
    for found in (2, 7):
        path = write(tmp_path, f"{found}.csv", good + ",".join(values[:found]) + "\n")
        assert refused_file(ledger, path) == f"{found}.csv: row 2: expected 6 fields, found {found}"


def test_a_json_line_missing_a_field_is_refused_row_level(ledger: Ledger, tmp_path: Path) -> None:
    number = person(ledger)
    short = {k: v for k, v in fields(number, "TP-2").items() if k != "source_ref"}
    path = write(tmp_path, "b.jsonl", jsonl_text([fields(number), short]))
    assert refused_rows(ledger, path) == [(2, "source_ref", "", BAD_REF)]


# -- empty files ------------------------------------------------------------------------


def test_an_empty_file_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    for name in ("b.csv", "b.jsonl", "b.parquet"):
        message = refused_file(ledger, write(tmp_path, name, b""))
        assert message.startswith(f"{name}: the file is empty")


def header_only_parquet() -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.schema([(name, pa.string()) for name in HEADER]).empty_table(), out)
    return out.getvalue()


def test_a_header_only_file_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    header = ",".join(HEADER)
    files = {
        "b.csv": header + "\n",
        "blank-lines.csv": header + "\r\n\r\n\n",
        "b.parquet": header_only_parquet(),
    }
    for name, data in files.items():
        message = refused_file(ledger, write(tmp_path, name, data))
        assert message == f"{name}: no data rows (only a header)"


def test_a_header_without_a_final_newline_is_header_only(ledger: Ledger, tmp_path: Path) -> None:
    message = refused_file(ledger, write(tmp_path, "b.csv", ",".join(HEADER)))
    assert message == "b.csv: no data rows (only a header)"


def test_a_file_of_only_blank_lines_is_refused_as_empty(ledger: Ledger, tmp_path: Path) -> None:
    for name, data in (("b.csv", "\n\n\n"), ("space.csv", "\r\n \r\n"), ("b.jsonl", "\n\n")):
        message = refused_file(ledger, write(tmp_path, name, data))
        assert message.startswith(f"{name}: the file is empty")


# -- oversized and NUL ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["source_ref", "national_id"])
@pytest.mark.parametrize("name", ["b.csv", "b.jsonl"])
def test_a_ten_megabyte_field_is_refused_by_its_line_length_naming_the_row(
    ledger: Ledger, tmp_path: Path, field: str, name: str
) -> None:
    number = person(ledger)
    rows = [fields(number), fields(number, "TP-2", **{field: "1" * 10_000_000})]
    path = write(tmp_path, name, csv_text(rows) if name.endswith(".csv") else jsonl_text(rows))
    assert refused_file(ledger, path) == (
        f"{name}: row 2: longer than 262,144 bytes (a row of a batch is a few hundred bytes)"
    )


def test_a_long_field_under_the_line_limit_is_refused_with_its_value_truncated(
    ledger: Ledger, tmp_path: Path
) -> None:
    long = "1" * 200_000
    path = write(tmp_path, "b.csv", csv_text([fields(person(ledger), **{"source_ref": long})]))
    [(row, name, shown, reason)] = refused_rows(ledger, path)
    assert (row, name, shown, reason) == (1, "source_ref", "1" * 40 + "…", BAD_REF)


def test_a_nul_byte_in_a_field_is_refused_and_reported_legibly(
    ledger: Ledger, tmp_path: Path
) -> None:
    rows = [fields(person(ledger), "TP\x001")]
    for path in (
        write(tmp_path, "b.csv", csv_text(rows)),
        write(tmp_path, "b.jsonl", jsonl_text(rows)),
    ):
        [(row, field, shown, reason)] = refused_rows(ledger, path)
        assert (row, field, reason) == (1, "source_ref", BAD_REF)
        assert "\x00" not in shown and shown.startswith("TP") and shown.endswith("1")


def test_a_raw_nul_byte_in_a_json_line_names_the_row(ledger: Ledger, tmp_path: Path) -> None:
    data = jsonl_text([fields(person(ledger), "TP-1")]).encode().replace(b"TP-1", b"TP\x001")
    column = data.index(b"\x00") + 1
    message = refused_file(ledger, write(tmp_path, "b.jsonl", data))
    assert (
        message == f"b.jsonl: row 1: not valid JSON (Invalid control character at column {column})"
    )


# -- dates and values -------------------------------------------------------------------


def test_invalid_dates_are_refused(ledger: Ledger, tmp_path: Path) -> None:
    number = person(ledger)
    dates = ["2026-13-01", "2026-1-5", "yesterday"]
    rows = [fields(number, f"TP-{i}", act_date=day) for i, day in enumerate(dates)]
    path = write(tmp_path, "b.csv", csv_text(rows))
    assert refused_rows(ledger, path) == [
        (i, "act_date", day, BAD_DATE) for i, day in enumerate(dates, start=1)
    ]


def test_impossible_dates_are_refused(ledger: Ledger, tmp_path: Path) -> None:
    number = person(ledger)
    rows = [
        fields(number, "TP-1", act_date="2023-02-29"),
        fields(number, "TP-2", act_date="2026-04-31"),
        fields(number, "TP-3", decision_date="2026-02-30"),
    ]
    assert refused_rows(ledger, write(tmp_path, "b.csv", csv_text(rows))) == [
        (1, "act_date", "2023-02-29", BAD_DATE),
        (2, "act_date", "2026-04-31", BAD_DATE),
        (3, "decision_date", "2026-02-30", BAD_DATE),
    ]


def test_a_future_act_date_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    row = fields(person(ledger), act_date="2026-11-02", decision_date="2026-11-02")
    future = f"in the future (today is {TODAY})"
    assert refused_rows(ledger, write(tmp_path, "b.csv", csv_text([row]))) == [
        (1, "act_date", "2026-11-02", future),
        (1, "decision_date", "2026-11-02", future),
    ]


def test_negative_volunteer_hours_are_refused(ledger: Ledger, tmp_path: Path) -> None:
    row = fields(person(ledger), "V-1", metric="volunteer_hours", value="-3")
    path = write(tmp_path, "b.csv", csv_text([row]))
    assert refused_rows(ledger, path, department="volunteer-registry") == [
        (1, "value", "-3", "outside the range of volunteer_hours: 0 to 744 hour")
    ]


def test_a_metric_the_department_may_not_report_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    row = fields(person(ledger), metric="tax_arrears")
    assert refused_rows(ledger, write(tmp_path, "b.csv", csv_text([row]))) == [
        (1, "metric", "tax_arrears", "department 'traffic-police' may not report it (allowed: tax)")
    ]


# -- text that looks like a formula -----------------------------------------------------


def test_formula_like_text_is_stored_exactly_as_sent(ledger: Ledger, tmp_path: Path) -> None:
    number = person(ledger)
    refs = ['=HYPERLINK("http://x","y")', "+1+1", "@SUM(A1)", "-2+3"]
    path = write(tmp_path, "b.csv", csv_text([fields(number, ref) for ref in refs]))
    outcome = submit(ledger, path)
    assert (outcome.status, outcome.accepted, outcome.problems) == ("committed", 4, [])
    assert stored_refs(ledger) == sorted(refs)


# -- Parquet and JSON Lines that cannot be read -----------------------------------------


def test_a_truncated_parquet_file_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    number = person(ledger)
    table = pa.Table.from_pylist([fields(number, f"TP-{i}") for i in range(100)])
    pq.write_table(table, tmp_path / "full.parquet")
    data = (tmp_path / "full.parquet").read_bytes()
    message = refused_file(ledger, write(tmp_path, "cut.parquet", data[:-100]))
    assert message.startswith("cut.parquet: not a readable parquet file: ")


def test_a_line_that_is_not_json_names_its_line(ledger: Ledger, tmp_path: Path) -> None:
    number = person(ledger)
    text = jsonl_text([fields(number, "TP-1")]) + "{not json\n" + jsonl_text([fields(number)])
    message = refused_file(ledger, write(tmp_path, "b.jsonl", text))
    assert message == (
        "b.jsonl: row 2: not valid JSON "
        "(Expecting property name enclosed in double quotes at column 2)"
    )


def test_a_json_field_that_changes_type_names_its_row(ledger: Ledger, tmp_path: Path) -> None:
    number = person(ledger)
    rows = [fields(number, "TP-1"), {**fields(number), "source_ref": 2}]
    message = refused_file(ledger, write(tmp_path, "b.jsonl", jsonl_text(rows)))
    assert message.startswith("b.jsonl: row 2: ") and "source_ref" in message


# -- one bad row at the very end of a large file ----------------------------------------


def large_file(tmp_path: Path, number: str, rows: int) -> Path:
    """``rows`` good rows, then one whose national ID has a wrong check digit."""
    good = [f"{number},failure_to_yield,2026-06-01,2026-06-03,TP-{i},1\n" for i in range(rows)]
    last = f"{bad_check_digit(number)},failure_to_yield,2026-06-01,2026-06-03,TP-LAST,1\n"
    return write(tmp_path, "big.csv", ",".join(HEADER) + "\n" + "".join(good) + last)


def submit_large(ledger: Ledger, tmp_path: Path, *, partial: bool) -> tuple[Outcome, list[int]]:
    number = person(ledger)
    read: list[int] = []
    outcome = submit(
        ledger,
        large_file(tmp_path, number, 50_000),
        partial=partial,
        chunk_rows=10_000,
        progress=lambda rows, _total: read.append(rows),
    )
    bad = bad_check_digit(number)
    assert [(p.row, p.field, p.value, p.reason) for p in outcome.problems] == [
        (50_001, "national_id", bad[:6] + "********" + bad[-4:], BAD_ID)  # masked
    ]
    return outcome, read


def test_one_bad_row_at_the_end_of_a_large_file_refuses_the_batch(
    ledger: Ledger, tmp_path: Path
) -> None:
    outcome, read = submit_large(ledger, tmp_path, partial=False)
    assert read == [10_000, 20_000, 30_000, 40_000, 50_000, 50_001]  # the bad row comes last
    assert (outcome.status, outcome.rows, outcome.accepted) == ("refused", 50_001, 0)
    assert counts(ledger) == (0, 1)  # no records; the refused outcome is kept


def test_with_partial_the_rows_before_a_bad_last_row_are_committed(
    ledger: Ledger, tmp_path: Path
) -> None:
    outcome, _ = submit_large(ledger, tmp_path, partial=True)
    assert (outcome.status, outcome.accepted, outcome.refused) == ("partial", 50_000, 1)
    assert counts(ledger) == (50_000, 1)


# -- files that once crashed the readers (issue 18) ------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        (
            "b.csv",
            __import__("gzip").compress(b"national_id,metric\n" * 1000),
            "b.csv: expected UTF-8 text, found gzip-compressed data (decompress it first)",
        ),
        (
            "bomb.csv",  # a gzip bomb under a text name: refused by its first bytes
            __import__("gzip").compress(b"0" * 50_000_000),
            "bomb.csv: expected UTF-8 text, found gzip-compressed data (decompress it first)",
        ),
        (
            "b.jsonl",
            b"PK\x03\x04" + b"\0" * 100,
            "b.jsonl: expected UTF-8 text, found a ZIP archive (unpack it first)",
        ),
        (
            "b.csv",
            b"PAR1" + b"\x15" * 100,
            "b.csv: expected UTF-8 text, found a Parquet file (name it .parquet)",
        ),
        (
            "b.csv",
            b"%PDF-1.7\n" + b"\x00" * 100,
            "b.csv: expected UTF-8 text, found a PDF document",
        ),
        (
            "b.csv",
            b"x" * 200_000 + b"\n1\n",
            "b.csv: header: longer than 65,536 bytes (a batch's header names at most 11 columns)",
        ),
        (
            "b.csv",
            ",".join(f"c{i}" for i in range(5_000)).encode() + b"\n1\n",
            "b.csv: header: 5,000 columns, at most 64 (a batch carries only "
            + ", ".join(COLUMNS)
            + ")",
        ),
        (
            "b.jsonl",
            b"[" * 100_000 + b"\n",
            "b.jsonl: row 1: nested too deeply (a batch row is one flat JSON object)",
        ),
    ],
)
def test_files_that_once_crashed_a_reader_are_refused_in_one_line(
    ledger: Ledger, tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    assert refused_file(ledger, write(tmp_path, name, data)) == expected


def test_full_width_digits_in_an_id_number_are_refused_not_hashed(
    ledger: Ledger, tmp_path: Path
) -> None:
    number = person(ledger)
    wide = number.translate({ord(d): chr(0xFF10 + int(d)) for d in "0123456789"})
    rows = refused_rows(ledger, write(tmp_path, "b.csv", csv_text([fields(wide)])))
    assert [(r[0], r[1], r[3]) for r in rows] == [(1, "national_id", BAD_ID)]
