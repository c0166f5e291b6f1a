"""Fuzzing every reader (hypothesis): random bytes, truncations and mutations of valid
CSV, JSON Lines and Parquet files, under each extension, read and then checked as a
batch. Whatever the bytes, the only exceptions are our own (one clear line), never a
traceback from a library."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import POLICY_DIR
from osmanthus.errors import OsmanthusError
from osmanthus.intake import read_batch
from osmanthus.intake.validate import validate_batch
from osmanthus.policy import load_policy

ROWS = [
    {
        "national_id": "320508198703150016",
        "metric": "failure_to_yield",
        "act_date": "2026-06-01",
        "decision_date": "2026-06-03",
        "source_ref": f"TP-{k}",
        "value": "1",
    }
    for k in range(3)
]


def _csv() -> bytes:
    header = ",".join(ROWS[0])
    return (header + "\n" + "\n".join(",".join(r.values()) for r in ROWS) + "\n").encode()


def _jsonl() -> bytes:
    return "".join(json.dumps(r) + "\n" for r in ROWS).encode()


def _parquet() -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(ROWS), out)
    return out.getvalue()


VALID = {"csv": _csv(), "jsonl": _jsonl(), "parquet": _parquet()}
POLICY = load_policy(POLICY_DIR)
FUZZ = settings(
    max_examples=int(os.environ.get("OSMANTHUS_FUZZ_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A file name's extension and its bytes: random, or a valid file of any format cut
    short or with bytes flipped, inserted or deleted (under its own extension or not)."""
    extension = draw(st.sampled_from(["csv", "jsonl", "parquet", "txt"]))
    if draw(st.integers(0, 3)) == 0:
        return extension, draw(st.binary(max_size=600))
    data = bytearray(VALID[draw(st.sampled_from(sorted(VALID)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "cut":
            del data[at:]
        elif kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif data:
            del data[at : at + draw(st.integers(1, 20))]
    return extension, bytes(data)


@FUZZ
@given(case=mutated())
def test_any_bytes_are_read_or_refused_with_our_own_error(case: tuple[str, bytes]) -> None:
    extension, data = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"batch.{extension}"
        path.write_bytes(data)
        try:
            table = read_batch(path, None if extension != "txt" else "csv")
            validate_batch(table, POLICY, "traffic-police", dt.date(2026, 12, 1))
        except OsmanthusError as exc:
            message = str(exc)
            assert message and "\n" not in message.strip(), message
            assert "Traceback" not in message


def test_the_fuzzer_reaches_both_outcomes() -> None:
    """The valid files read (so the fuzz test is not refusing everything for a reason of
    its own), and a cut one is refused with our error."""
    with tempfile.TemporaryDirectory() as folder:
        for extension, data in VALID.items():
            path = Path(folder) / f"ok.{extension}"
            path.write_bytes(data)
            assert read_batch(path).num_rows == 3
        cut = Path(folder) / "cut.parquet"
        cut.write_bytes(VALID["parquet"][:40])
        try:
            read_batch(cut)
        except OsmanthusError:
            pass
        else:
            raise AssertionError("a cut Parquet file was read")
