"""Row digests of a bulk write, computed from the columns written, not read back.

A bulk load or an intake batch writes up to millions of rows; reading them back to
encode them would cost more than writing them. Here the canonical encoding of
:mod:`osmanthus.audit.rows` is built column by column with Arrow (numbers as text, a
float as its bit pattern, text quoted, escaped in Python only in a column that needs
it), joined per row in Arrow, and hashed. tests/ledger/test_seal_columns.py checks that
it equals the row-by-row encoding, and every intake and bulk test verifies the rows
written against the database's own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from osmanthus.audit import ClaimBuilder, encode_value

__all__ = ["Col", "add_rows", "id_ranges"]

#: A column to encode: (kind, values); kind is int, float, text or date (ISO text), and
#: values an array or list, or one Python value for a column the same in every row.
Col = tuple[str, Any]

_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def _quoted(values: pa.Array) -> pa.Array:
    if pc.any(pc.match_substring_regex(values, _NEEDS_ESCAPE)).as_py():
        return pa.array(
            [None if v is None else encode_basestring(v) for v in values.to_pylist()], pa.string()
        )
    return pc.binary_join_element_wise('"', values, '"', "")


def _encoded(kind: str, values: Any, rows: int) -> pa.Array | pa.Scalar:
    if not isinstance(values, (list, np.ndarray, pa.Array, pa.ChunkedArray)):
        return pa.scalar(encode_value(values), pa.string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if kind == "int":
        found = pa.array(values, pa.int64()).cast(pa.string())
    elif kind == "float":
        bits = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)
        found = pa.array(bits).cast(pa.string())
    elif kind in ("text", "date"):
        text = pa.array(values, pa.string()) if not isinstance(values, pa.Array) else values
        found = _quoted(text.cast(pa.string()))
    else:
        raise ValueError(f"unknown column kind {kind!r}")
    if len(found) != rows:
        raise ValueError(f"column of {len(found)} values for {rows} rows")
    return pc.fill_null(found, "null")


def id_ranges(ids: npt.NDArray[np.int64]) -> list[tuple[int, int]]:
    """Ascending ids as inclusive ranges of consecutive ids."""
    if not len(ids):
        return []
    breaks = np.flatnonzero(np.diff(ids) != 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(ids) - 1]))
    return list(zip(ids[starts].tolist(), ids[ends].tolist(), strict=True))


def add_rows(builder: ClaimBuilder, ids: npt.NDArray[np.int64], columns: Sequence[Col]) -> None:
    """Add rows with these ascending ``ids`` and further ``columns`` (in the table's
    sealed order, after the id) to ``builder``."""
    rows = len(ids)
    if not rows:
        return
    if (np.diff(ids) <= 0).any():
        raise ValueError(f"{builder.table}: row ids must ascend")
    parts = [_encoded("int", ids, rows), *(_encoded(k, v, rows) for k, v in columns)]
    prefix = "\x00[" + encode_basestring(builder.table) + ","
    joined = pc.binary_join_element_wise(*parts, ",")
    if isinstance(joined, pa.Scalar):  # pragma: no cover - ids are always an array
        raise ValueError("no row")
    line = pc.binary_join_element_wise(prefix, joined, "]", "").cast(pa.binary())
    sha = hashlib.sha256
    builder.add_ranges(id_ranges(ids))
    builder.add_leaves([sha(row).digest() for row in line.to_pylist()])
