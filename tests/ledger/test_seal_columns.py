"""The column-wise row encoding of bulk writes equals the row-by-row reference."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from osmanthus.audit import ClaimBuilder, encode_row
from osmanthus.ledger.seal_columns import add_rows, id_ranges

texts = st.one_of(st.none(), st.text(max_size=12))
rows = st.lists(
    st.tuples(texts, st.floats(allow_nan=False, allow_infinity=False), st.dates(), texts),
    min_size=1,
    max_size=30,
)
NOW = dt.datetime(2026, 11, 1, 9, 0, 0, 123456, tzinfo=dt.UTC)


@given(rows, st.integers(min_value=1, max_value=10**9))
def test_columns_encode_as_the_reference_does(found: list[tuple], first: int) -> None:  # type: ignore[type-arg]
    ids = np.arange(first, first + len(found), dtype=np.int64) * 2  # gaps between ids
    builder = ClaimBuilder("records")
    add_rows(
        builder,
        ids,
        [
            ("text", [r[0] for r in found]),
            ("float", np.array([r[1] for r in found])),
            ("date", [r[2].isoformat() for r in found]),
            ("", NOW),
            ("text", [r[3] for r in found]),
            ("", "original"),
            ("", None),
        ],
    )
    reference = ClaimBuilder("records")
    for key, (a, b, c, d) in zip(ids.tolist(), found, strict=True):
        reference.add(key, encode_row("records", [key, a, b, c, NOW, d, "original", None]))
    assert builder.claim() == reference.claim()


def test_id_ranges() -> None:
    assert id_ranges(np.array([1, 2, 3, 7, 8, 10])) == [(1, 3), (7, 8), (10, 10)]
    assert id_ranges(np.array([], dtype=np.int64)) == []
