"""Digests of ledger rows: a canonical encoding of a row, and Merkle roots over many.

Every audit entry that writes ledger rows carries, for each table it wrote, a **claim**:
which row ids it wrote and the Merkle root of those rows, so that the chain vouches for
the rows and not only for itself. Encoding (version 1, stable across SQLite and
PostgreSQL, reproducible by anyone holding a copy of the database):

- A row is the UTF-8 text of a compact JSON array ``[table, v1, v2, ...]`` of its
  columns in the table's sealed order (:mod:`osmanthus.ledger.sealed` lists them; a
  reference to a resident or a department is written as its pseudonym or its code).
- Values: ``null``; integers in decimal; a floating-point value as the decimal integer of
  its IEEE 754 binary64 bit pattern (``-0.0`` taken as ``0.0``), so no decimal printing
  can differ; booleans ``true``/``false``; a date ``"YYYY-MM-DD"``; a timestamp in UTC
  ``"YYYY-MM-DDTHH:MM:SS.ffffffZ"``; text as a JSON string (only ``"``, ``\\`` and
  control characters escaped; other characters as they are).
- Rows in ascending id are taken in consecutive groups of :data:`CHUNK` (the last may
  be smaller); ``group = SHA-256(0x02 || row_1 || 0x0A || row_2 || 0x0A || ...)``: the
  hash of the group's rows as JSON Lines, each line ending in a newline.
- The claim's root is RFC 6962's Merkle tree hash (section 2.1) with the groups as its
  leaves: ``node = SHA-256(0x01 || left || right)``, a last node without a partner
  carried up unchanged. A claim of one group has that group as its root.
- A claim of more than one group also lists every group, so that verification names the
  group of rows that changed.

A tree down to each row (a leaf hash per row, a node per pair) would let a verifier name
the very row, but only with per-row nodes nobody keeps; it cost 1.2 s of Python per
million rows written (1 M leaf hashes 0.5 s, 1 M node hashes 0.43 s, the rows as Python
objects 0.17 s), and pushed intake past its budget (+10.4 % wall, +15.5 % CPU on SQLite,
bench/row_digests.py, 2026-12-06). Hashing each group's lines in one call over Arrow's
own buffer costs about 0.11 s per million rows.

A claim names its ids as inclusive ranges ``[[first, last], ...]``: a row id inside a
range that is missing, and a row outside every claim, are named exactly.

This module knows nothing of databases.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

__all__ = [
    "CHUNK",
    "Claim",
    "ClaimBuilder",
    "MerkleBuilder",
    "claim_detail",
    "encode_row",
    "encode_value",
    "float_bits",
    "group_hash",
    "merkle_root",
    "node_hash",
    "parse_claims",
]

#: Rows per group whose root a large claim lists (a power of two: groups are subtrees).
CHUNK = 1024

_sha256 = hashlib.sha256
_DOUBLE = struct.Struct("<d")
_BITS = struct.Struct("<Q")


def float_bits(value: float) -> int:
    """The IEEE 754 binary64 bit pattern of ``value`` as an unsigned integer."""
    return int(_BITS.unpack(_DOUBLE.pack(value + 0.0))[0])


def _timestamp(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"expected a timezone-aware timestamp, found {value!r}")
    if value.tzinfo is dt.UTC:
        return '"' + value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + '"'
    return '"' + value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + '"'


#: The encoder of each exact type (a dictionary look-up instead of a chain of
#: ``isinstance`` tests: rows are encoded by the million when a ledger is verified).
_BY_TYPE: dict[type, Any] = {
    type(None): lambda _: "null",
    bool: lambda v: "true" if v else "false",
    int: str,
    float: lambda v: str(float_bits(v)),
    str: encode_basestring,
    dt.date: lambda v: '"' + v.isoformat() + '"',
    dt.datetime: _timestamp,
}


def encode_value(value: Any) -> str:
    """One value in the canonical row encoding."""
    encoder = _BY_TYPE.get(type(value))
    if encoder is not None:
        return str(encoder(value))
    return _encode_other(value)


def _encode_other(value: Any) -> str:
    """Subclasses of the types above (the same encoding), or a type that has none."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(float_bits(value))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"expected a timezone-aware timestamp, found {value!r}")
        return '"' + value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + '"'
    if isinstance(value, dt.date):
        return '"' + value.isoformat() + '"'
    if isinstance(value, str):
        return str(encode_basestring(value))
    raise TypeError(f"cannot encode {type(value).__name__} in a row digest")


def encode_row(table: str, values: Iterable[Any]) -> bytes:
    """The canonical bytes of one row of ``table``."""
    return ("[" + ",".join([encode_basestring(table), *map(encode_value, values)]) + "]").encode()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The Merkle node over two subtrees."""
    return _sha256(b"\x01" + left + right).digest()


def group_hash(rows: Iterable[bytes]) -> bytes:
    """The hash of one group of consecutive rows (their canonical bytes)."""
    found = _sha256(b"\x02")
    for row in rows:
        found.update(row)
        found.update(b"\n")
    return found.digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962's tree hash over leaf hashes (level by level, an odd last node carried up)."""
    if not leaves:
        return _sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


class MerkleBuilder:
    """The same root as :func:`merkle_root`, built as leaves come (memory: one subtree
    root per bit of the count)."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (height, root) of perfect subtrees
        self.count = 0

    def add(self, leaf: bytes) -> None:
        """Add the next leaf."""
        stack, height = self._stack, 0
        while stack and stack[-1][0] == height:
            height += 1
            leaf = node_hash(stack.pop()[1], leaf)
        stack.append((height, leaf))
        self.count += 1

    def root(self) -> bytes:
        """The root over what was added (subtrees folded from the right, as RFC 6962)."""
        if not self._stack:
            return merkle_root([])
        result = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            result = node_hash(left, result)
        return result


@dataclass
class Claim:
    """The rows of one table that one audit entry wrote: ids and their Merkle root."""

    table: str
    ids: list[list[int]]
    rows: int
    root: str
    chunks: list[str] = field(default_factory=list)

    def as_detail(self) -> dict[str, Any]:
        found: dict[str, Any] = {"ids": self.ids, "rows": self.rows, "root": self.root}
        if self.chunks:
            found["chunks"] = self.chunks
        return found

    @classmethod
    def from_detail(cls, table: str, detail: Mapping[str, Any]) -> Claim:
        return cls(
            table,
            [list(map(int, pair)) for pair in detail["ids"]],
            int(detail["rows"]),
            str(detail["root"]),
            [str(c) for c in detail.get("chunks", [])],
        )


class ClaimBuilder:
    """Builds a :class:`Claim` from rows (their canonical bytes) in ascending id order."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.ranges: list[list[int]] = []
        self._group = _sha256(b"\x02")  # the group being filled
        self._in_group = 0
        self._chunks: list[bytes] = []
        self._outer = MerkleBuilder()
        self.count = 0

    def add(self, row_id: int, row: bytes) -> None:
        self.add_ranges([(row_id, row_id)])
        self.add_row(row)

    def add_ranges(self, ranges: Iterable[Sequence[int]]) -> None:
        """Ids as inclusive ranges, ascending (a bulk writer's)."""
        for lo, hi in ranges:
            last = self.ranges[-1] if self.ranges else None
            if last is not None and lo <= last[1]:
                raise ValueError(f"{self.table}: row ids must ascend ({lo} after {last[1]})")
            if last is not None and last[1] + 1 == lo:
                last[1] = int(hi)
            else:
                self.ranges.append([int(lo), int(hi)])

    def add_row(self, row: bytes) -> None:
        """A row without its id (a verifier following a claim's own ranges)."""
        self._group.update(row)
        self._group.update(b"\n")
        self._added(1)

    def add_lines(self, lines: memoryview, ends: Sequence[int]) -> None:
        """Consecutive rows as one buffer of lines (each ending in a newline): ``ends[i]``
        is where row ``i``'s line ends. Each group is hashed in one call."""
        start, done = 0, 0
        while done < len(ends):
            take = min(CHUNK - self._in_group, len(ends) - done)
            end = ends[done + take - 1]
            self._group.update(lines[start:end])
            start, done = end, done + take
            self._added(take)

    def _added(self, rows: int) -> None:
        self._in_group += rows
        self.count += rows
        if self._in_group == CHUNK:
            self._close_chunk()

    def _close_chunk(self) -> None:
        root = self._group.digest()
        self._chunks.append(root)
        self._outer.add(root)
        self._group, self._in_group = _sha256(b"\x02"), 0

    def chunk_roots(self) -> list[bytes]:
        """Hashes of the complete groups so far."""
        return self._chunks

    def claim(self) -> Claim:
        """The claim over every row added (call once, at the end)."""
        if self._in_group:
            self._close_chunk()
        roots = self._chunks
        if len(roots) <= 1:
            return Claim(self.table, self.ranges, self.count, merkle_root(roots).hex())
        return Claim(
            self.table, self.ranges, self.count, self._outer.root().hex(), [c.hex() for c in roots]
        )


def claim_detail(claims: Iterable[Claim]) -> dict[str, Any]:
    """The ``sealed`` member of an audit entry's detail for these claims."""
    return {c.table: c.as_detail() for c in claims if c.rows}


def parse_claims(detail_text: str | None, sealed_text: str | None = None) -> list[Claim]:
    """The claims a stored entry carries (none for most entries): a format-2 entry's
    ``sealed`` field, or a format-1 entry's detail's ``sealed`` member."""
    if sealed_text is not None:
        found = json.loads(sealed_text)
    elif detail_text is None or '"sealed":{' not in detail_text:
        return []
    else:
        found = json.loads(detail_text).get("sealed")
    if not isinstance(found, dict):
        return []
    return [Claim.from_detail(table, claim) for table, claim in found.items()]
