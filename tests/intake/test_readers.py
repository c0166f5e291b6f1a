"""Reading batch files: every format, and every malformed file gets one clear line."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from osmanthus.errors import ValidationError
from osmanthus.intake import read_batch
from osmanthus.intake.readers import MAX_LINE, open_batch

HEADER = "national_id,metric,act_date,decision_date,source_ref,value\n"
ROW = "320508198703150016,failure_to_yield,2026-06-01,2026-06-03,TP-1,1\n"
ROWS = [
    {
        "national_id": "320508198703150016",
        "metric": "failure_to_yield",
        "act_date": "2026-06-01",
        "decision_date": "2026-06-03",
        "source_ref": "TP-1",
        "value": 1,
    },
]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_csv_jsonl_and_parquet_read_the_same(tmp_path: Path) -> None:
    csv = read_batch(write(tmp_path, "b.csv", (HEADER + ROW).encode()))
    jsonl = read_batch(write(tmp_path, "b.jsonl", (json.dumps(ROWS[0]) + "\n").encode()))
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "b.parquet")
    parquet = read_batch(tmp_path / "b.parquet")
    for table in (csv, jsonl, parquet):
        assert table.column("national_id").to_pylist() == ["320508198703150016"]
        assert table.column("value").to_pylist() == ["1"]
        assert all(pa.types.is_string(f.type) for f in table.schema)


def test_leading_zeros_and_x_survive_csv(tmp_path: Path) -> None:
    row = "01050819870315001X,failure_to_yield,2026-06-01,2026-06-03,TP-1,1\n"
    table = read_batch(write(tmp_path, "b.csv", (HEADER + row).encode()))
    assert table.column("national_id").to_pylist() == ["01050819870315001X"]


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    table = read_batch(write(tmp_path, "b.csv", b"\xef\xbb\xbf" + (HEADER + ROW).encode()))
    assert table.column_names[0] == "national_id"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("b.csv", b"", r"^b.csv: the file is empty"),
        ("b.csv", HEADER.encode(), r"^b.csv: no data rows \(only a header\)"),
        ("b.csv", (HEADER + ROW).encode("utf-16"), r"^b.csv: expected UTF-8 text, found a UTF-16"),
        (
            "b.csv",
            (HEADER + ROW.replace("TP-1", "TP-\xe9")).encode("latin-1"),
            r"^b.csv: row 1: not UTF-8 text at byte \d+ \(GBK or Latin-1",
        ),
        (
            "b.csv",
            (HEADER.replace(",value", "") + ROW.rsplit(",", 1)[0] + "\n")
            .encode()
            .replace(b"act_date,", b""),
            r"^b.csv: (missing column\(s\): act_date|not a readable)",
        ),
        (
            "b.csv",
            (HEADER.replace("value", "remarks") + ROW).encode(),
            r"^b.csv: unexpected column\(s\): remarks",
        ),
        (
            "b.csv",
            (HEADER.replace("value", "religion") + ROW).encode(),
            r"^b.csv: column 'religion' is prohibited data \(religion: 'relig'\)",
        ),
        ("b.txt", b"x", r"^b.txt: unknown file type '.txt'"),
        ("b.parquet", b"PAR1 this is not parquet", r"^b.parquet: not a readable parquet file"),
    ],
)
def test_malformed_files_get_one_line(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        read_batch(write(tmp_path, name, data))
    assert "\n" not in str(info.value)


def test_truncated_parquet_is_refused(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist(ROWS * 1000), tmp_path / "full.parquet")
    data = (tmp_path / "full.parquet").read_bytes()
    path = write(tmp_path, "cut.parquet", data[: len(data) // 2])
    with pytest.raises(ValidationError, match=r"^cut.parquet: not a readable parquet file"):
        read_batch(path)


def test_a_long_field_under_the_line_limit_is_read_for_validation_to_refuse(
    tmp_path: Path,
) -> None:
    big = "x" * (MAX_LINE - 1_000)
    table = read_batch(write(tmp_path, "b.csv", (HEADER + ROW.replace("TP-1", big)).encode()))
    assert len(table.column("source_ref")[0].as_py()) == MAX_LINE - 1_000


@pytest.mark.parametrize("length", [3 * (MAX_LINE // 2), 10 << 20])
def test_a_line_longer_than_the_limit_is_refused_before_any_reader(
    tmp_path: Path, length: int
) -> None:
    big = "x" * length
    path = write(tmp_path, "b.csv", (HEADER + ROW + ROW.replace("TP-1", big)).encode())
    with pytest.raises(ValidationError, match=f"^b.csv: row 2: longer than {MAX_LINE:,} bytes"):
        read_batch(path)


def test_chunks_are_made_of_several_read_blocks(tmp_path: Path) -> None:
    rows = "".join(ROW.replace("TP-1", f"TP-{n}") for n in range(60_000))  # ~5 MB: 10 blocks
    batch = open_batch(write(tmp_path, "b.csv", (HEADER + rows).encode()), chunk_rows=25_000)
    sizes = [chunk.num_rows for chunk in batch.chunks()]
    assert sizes == [25_000, 25_000, 10_000]


def test_a_quoted_header_keeps_every_value_as_text(tmp_path: Path) -> None:
    header = '"national_id","metric","act_date","decision_date","source_ref","value"\n'
    row = "320508198703150016,failure_to_yield,2026-06-01,2026-06-03,007,1.50\n"
    table = read_batch(write(tmp_path, "b.csv", (header + row).encode()))
    assert table.column("source_ref").to_pylist() == ["007"]
    assert table.column("value").to_pylist() == ["1.50"]
