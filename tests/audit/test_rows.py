"""Row digests: the canonical encoding, Merkle roots built three ways, claims."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from osmanthus.audit import (
    CHUNK,
    ClaimBuilder,
    MerkleBuilder,
    encode_row,
    encode_value,
    float_bits,
    group_hash,
    merkle_root,
)
from osmanthus.audit.rows import node_hash

leaves = st.lists(st.binary(min_size=32, max_size=32), max_size=40)


def rfc6962(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 written as the RFC states it (split at the largest power of two)."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(rfc6962(leaves[:k]), rfc6962(leaves[k:]))


@given(leaves.filter(bool))
def test_the_three_merkle_roots_agree_with_the_rfc(found: list[bytes]) -> None:
    builder = MerkleBuilder()
    for leaf in found:
        builder.add(leaf)
    assert merkle_root(found) == builder.root() == rfc6962(found)


@given(st.integers(min_value=1, max_value=5 * CHUNK + 3))
def test_a_claim_is_the_tree_over_its_groups_of_rows(n: int) -> None:
    found = [str(i).encode() * (i % 5) for i in range(n)]
    lines = b"".join(row + b"\n" for row in found)
    ends = list(itertools.accumulate(len(row) + 1 for row in found))
    builder = ClaimBuilder("records")
    builder.add_ranges([(10, 9 + n)])
    builder.add_lines(memoryview(lines), ends)
    one_by_one = ClaimBuilder("records")
    for i, row in enumerate(found):
        one_by_one.add(10 + i, row)
    claim = builder.claim()
    assert claim == one_by_one.claim()
    groups = [group_hash(found[i : i + CHUNK]) for i in range(0, n, CHUNK)]
    assert (
        groups[0] == hashlib.sha256(b"\x02" + b"".join(r + b"\n" for r in found[:CHUNK])).digest()
    )
    assert claim.root == merkle_root(groups).hex()
    assert claim.chunks == ([] if n <= CHUNK else [g.hex() for g in groups])
    assert claim.rows == n and claim.ids == [[10, 9 + n]]
    assert len(claim.chunks) == (0 if n <= CHUNK else -(-n // CHUNK))


def test_ids_that_do_not_ascend_are_refused() -> None:
    builder = ClaimBuilder("records")
    builder.add(5, b"x" * 32)
    try:
        builder.add(5, b"y" * 32)
    except ValueError as exc:
        assert "ascend" in str(exc)
    else:
        raise AssertionError("a repeated id was accepted")


def test_the_encoding_is_the_documented_json() -> None:
    row = encode_row(
        "records",
        [
            7,
            'ab"c',
            1.5,
            None,
            True,
            dt.date(2026, 1, 2),
            dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        ],
    )
    bits = float_bits(1.5)
    expected = f'["records",7,"ab\\"c",{bits},null,true,"2026-01-02","2026-01-02T03:04:05.000006Z"]'
    assert row == expected.encode()
    assert json.loads(row)[2] == 'ab"c'


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_is_its_bit_pattern_and_minus_zero_is_zero(value: float) -> None:
    assert encode_value(value) == encode_value(value + 0.0)
    assert encode_value(-0.0) == encode_value(0.0) == "0"
    assert int(encode_value(value)) < 2**64


def test_a_naive_timestamp_is_refused() -> None:
    try:
        encode_value(dt.datetime(2026, 1, 1))
    except ValueError as exc:
        assert "timezone-aware" in str(exc)
    else:
        raise AssertionError("a naive timestamp was encoded")
