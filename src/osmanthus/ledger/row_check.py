"""Checking the ledger's rows against the claims in the audit chain.

Given the claims of a verified chain (which rows each entry wrote, and their Merkle
root), every sealed table is read once in key order and each row is put under the claim
that covers it. The first fault is raised as :class:`RowsTampered`, naming the table and
the row (or, in a large write, the group of rows) and the entry:

- a row a claim covers that is not there (deleted);
- a row no claim covers (inserted outside the ledger);
- rows whose digest does not match their claim's (changed after they were written);
  a claim of more than :data:`osmanthus.audit.CHUNK` rows is checked group by group.

Current-state tables are checked against the newest claim of each row.

An erasure (:mod:`osmanthus.ledger.erasure`) re-claims the groups of rows it changed:
such a group is checked against its newest re-claim, and the claim that first wrote it
against its own list of groups; a row an erasure deleted must be absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING

from sqlalchemy import Connection, or_

from osmanthus.audit import CHUNK, Claim, ClaimBuilder, group_hash, merkle_root
from osmanthus.errors import AuditChainBroken
from osmanthus.ledger.sealed import SEALED, sealed_rows

if TYPE_CHECKING:
    from osmanthus.ledger.reclaims import ErasureFacts

__all__ = ["ClaimOf", "RowsTampered", "check_rows", "nth_id"]


class RowsTampered(AuditChainBroken):
    """A ledger row that does not match what the audit chain says was written."""

    def __init__(self, message: str, *, table: str, row: int, seq: int | None) -> None:
        super().__init__(message, seq=seq)
        self.table = table
        self.row = row


@dataclass(frozen=True)
class ClaimOf:
    """A claim with the entry that made it."""

    seq: int
    action: str
    claim: Claim


@dataclass
class _Open:
    """A claim being checked: its rows' leaves so far."""

    of: ClaimOf
    reclaimed: dict[int, str] = field(default_factory=dict)  # group -> newest re-claim
    builder: ClaimBuilder = field(init=False)
    checked_chunks: int = 0

    def __post_init__(self) -> None:
        self.builder = ClaimBuilder(self.of.claim.table)

    def where(self) -> str:
        return f"audit entry {self.of.seq} ({self.of.action})"

    def expected(self, group: int) -> str | None:
        """The hash group ``group`` must have now (None: past the claim's groups)."""
        if group in self.reclaimed:
            return self.reclaimed[group]
        claim = self.of.claim
        if not claim.chunks:
            return claim.root if group == 0 else None
        return claim.chunks[group] if group < len(claim.chunks) else None


def check_rows(
    conn: Connection,
    claims: Iterable[ClaimOf],
    *,
    floors: dict[str, int] | None = None,
    erasures: ErasureFacts | None = None,
    since: int = 0,
) -> dict[str, int]:
    """Check every sealed table against ``claims`` (and the ``erasures``' re-claims and
    deletions); return the rows checked per table.

    With ``floors`` (incremental verification from a checkpoint at entry ``since``: the
    highest key of each table the checkpoint covered), only rows that the given claims
    cover, or above the floor, or re-claimed by an erasure after the checkpoint, are
    checked.
    """
    if erasures is None:
        from osmanthus.ledger.reclaims import ErasureFacts

        erasures = ErasureFacts()
    claims = list(claims)
    by_table: dict[str, list[ClaimOf]] = {name: [] for name in SEALED}
    for of in claims:
        if of.claim.table not in by_table:
            raise AuditChainBroken(
                f"audit entry {of.seq}: claims rows of unknown table {of.claim.table!r}",
                seq=of.seq,
            )
        by_table[of.claim.table].append(of)
    checked = {}
    for name, sealed in SEALED.items():
        floor = None if floors is None else floors.get(name, 0)
        if sealed.append_only:
            checked[name] = _check_append_only(conn, name, by_table[name], floor, erasures)
        else:
            checked[name] = _check_current(
                conn, name, by_table[name], floor, erasures.deleted.get(name, {})
            )
    if floors is not None:  # groups an erasure changed since, written before the checkpoint
        writers = {(of.claim.table, of.seq) for of in claims}
        for (table, writer, _), reclaim in erasures.reclaims.items():
            if reclaim.seq > since and (table, writer) not in writers:
                _check_reclaimed(conn, reclaim)
    return checked


def _check_reclaimed(conn: Connection, reclaim: object) -> None:
    """One group of rows against the erasure that re-claimed it."""
    from osmanthus.ledger.reclaims import Reclaim

    assert isinstance(reclaim, Reclaim)
    key = SEALED[reclaim.table].key
    where = or_(*(key.between(lo, hi) for lo, hi in reclaim.ids))
    rows = [encoded for _, encoded in sealed_rows(conn, reclaim.table, where)]
    if group_hash(rows).hex() != reclaim.hash:
        first = reclaim.ids[0][0]
        raise RowsTampered(
            f"{reclaim.table} rows {first}–{reclaim.ids[-1][1]} (one or more of them): changed "
            f"after audit entry {reclaim.seq} (resident.erase) vouched for them",
            table=reclaim.table,
            row=first,
            seq=reclaim.seq,
        )


def _check_append_only(
    conn: Connection,
    name: str,
    claims: list[ClaimOf],
    floor: int | None,
    erasures: ErasureFacts,
) -> int:
    intervals = sorted(
        (lo, hi, index) for index, of in enumerate(claims) for lo, hi in of.claim.ids
    )
    for (_, hi1, a), (lo2, _, b) in pairwise(intervals):
        if lo2 <= hi1:
            raise RowsTampered(
                f"{name} row {lo2}: claimed by audit entries {claims[a].seq} and "
                f"{claims[b].seq} (a row is written once)",
                table=name,
                row=lo2,
                seq=claims[b].seq,
            )
    opened = [
        _Open(
            of,
            {
                group: r.hash
                for (table, writer, group), r in erasures.reclaims.items()
                if table == name and writer == of.seq
            }
            if erasures.reclaims
            else {},
        )
        for of in claims
    ]
    start = None
    if floor is not None:
        start = min([floor + 1, *(lo for lo, _, _ in intervals[:1])])
    where = None if start is None else SEALED[name].key >= start
    position, expected, count = 0, intervals[0][0] if intervals else None, 0
    for key, encoded in sealed_rows(conn, name, where):
        count += 1
        while position < len(intervals) and intervals[position][1] < key:
            _missing(name, expected, intervals[position], opened)  # raises if any
            position += 1
            expected = intervals[position][0] if position < len(intervals) else None
        if position == len(intervals) or key < intervals[position][0]:
            if floor is not None and key <= floor:
                continue  # covered by the checkpoint, not claimed anew
            raise RowsTampered(
                f"{name} row {key}: written by no audit entry (inserted outside the ledger)",
                table=name,
                row=key,
                seq=None,
            )
        lo, hi, index = intervals[position]
        if expected is not None and key > expected:
            _missing(name, expected, (lo, key - 1, index), opened)
        _add(name, opened[index], encoded)
        expected = key + 1
        if key == hi:
            position += 1
            expected = intervals[position][0] if position < len(intervals) else None
    if position < len(intervals):
        _missing(name, expected, intervals[position], opened)
    for entry in opened:  # every id of every claim was seen above, or reported missing
        _finish(name, entry)
    return count


def _missing(
    name: str, expected: int | None, interval: tuple[int, int, int], opened: list[_Open]
) -> None:
    lo, hi, index = interval
    first = lo if expected is None or expected < lo else expected
    if first <= hi:
        raise RowsTampered(
            f"{name} row {first}: missing (written by {opened[index].where()}; deleted "
            "after it was written)",
            table=name,
            row=first,
            seq=opened[index].of.seq,
        )


def _add(name: str, entry: _Open, row: bytes) -> None:
    entry.builder.add_row(row)
    roots = entry.builder.chunk_roots()
    claim = entry.of.claim
    if claim.chunks and len(roots) > entry.checked_chunks:
        index = entry.checked_chunks
        entry.checked_chunks += 1
        if roots[index].hex() != entry.expected(index):
            _changed(name, entry, index)


def _finish(name: str, entry: _Open) -> None:
    claim = entry.of.claim
    found = entry.builder.claim()  # closes the last, partial group
    if not claim.chunks:
        if found.root != entry.expected(0):
            _changed(name, entry, 0)
        return
    for index in range(entry.checked_chunks, len(found.chunks)):
        if found.chunks[index] != entry.expected(index):
            _changed(name, entry, index)
    if len(found.chunks) != len(claim.chunks):
        _changed(name, entry, None)
    if entry.reclaimed:  # the claim's own groups must still make its root
        if merkle_root([bytes.fromhex(c) for c in claim.chunks]).hex() != claim.root:
            _changed(name, entry, None)
    elif found.root != claim.root:
        _changed(name, entry, None)


def _changed(name: str, entry: _Open, group: int | None) -> None:
    claim = entry.of.claim
    if group is None:
        first, last = claim.ids[0][0], claim.ids[-1][1]
    else:
        first = nth_id(claim.ids, group * CHUNK)
        last = nth_id(claim.ids, min(claim.rows, (group + 1) * CHUNK) - 1)
    what = (
        f"{name} row {first}"
        if first == last
        else f"{name} rows {first}–{last} (one or more of them)"
    )
    raise RowsTampered(
        f"{what}: changed after {entry.where()} wrote it (the digest does not match the entry's)",
        table=name,
        row=first,
        seq=entry.of.seq,
    )


def nth_id(ranges: list[list[int]], n: int) -> int:
    """The ``n``-th id (0-based) of inclusive id ranges."""
    for lo, hi in ranges:
        if n <= hi - lo:
            return lo + n
        n -= hi - lo + 1
    raise IndexError(n)


def _check_current(
    conn: Connection,
    name: str,
    claims: list[ClaimOf],
    floor: int | None,
    deleted: dict[int, int],
) -> int:
    newest: dict[int, ClaimOf | None] = {}
    for claimed in claims:
        for lo, hi in claimed.claim.ids:
            for key in range(lo, hi + 1):
                newest[key] = claimed
    for key, erasure in deleted.items():  # erased after its newest claim: must be gone
        last = newest.get(key)
        if last is None or last.seq < erasure:
            newest.pop(key, None)
            gone = conn.execute(
                SEALED[name].query().where(SEALED[name].key == key).limit(1)
            ).first()
            if gone is not None:
                raise RowsTampered(
                    f"{name} row {key}: present, though audit entry {erasure} erased it",
                    table=name,
                    row=key,
                    seq=erasure,
                )
    count = 0
    for key, encoded in sealed_rows(conn, name):
        of = newest.pop(key, None)
        if of is None:
            if floor is not None:
                continue  # incremental: rows not written anew were checked before
            raise RowsTampered(
                f"{name} row {key}: written by no audit entry (inserted outside the ledger)",
                table=name,
                row=key,
                seq=None,
            )
        count += 1
        if of.claim.rows != 1 or group_hash([encoded]).hex() != of.claim.root:
            raise RowsTampered(
                f"{name} row {key}: changed after audit entry {of.seq} ({of.action}) wrote "
                "it (the digest does not match the entry's)",
                table=name,
                row=key,
                seq=of.seq,
            )
    for key, left in sorted(newest.items()):
        assert left is not None
        raise RowsTampered(
            f"{name} row {key}: missing (written by audit entry {left.seq} ({left.action}); "
            "deleted after it was written)",
            table=name,
            row=key,
            seq=left.seq,
        )
    return count
