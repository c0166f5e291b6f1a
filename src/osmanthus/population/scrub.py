"""Erasures reach the lake: every bucket an erasure touched is written again from the
ledger, and its old files are deleted.

The lake is a copy of the ledger's rows; an erasure (:mod:`osmanthus.ledger.erasure`)
changes rows the lake already holds: a resident becomes a tombstone (no district, no
birth year) and their records lose their references; retired records move to the one
tombstone that holds them. The export finds the erasures entered in the audit chain
since the lake last took them in (the manifest's ``erasures``, the seq of the newest),
works out the buckets they touched (an erased resident's bucket; the buckets a retired
record was in, and the bucket of the tombstone that holds them now), and writes those
buckets whole from the ledger as it is, in place of their old files.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from sqlalchemy import Connection

from osmanthus.ledger.erasure_reads import erasures_after, retired_holder_id, retired_record_ids
from osmanthus.population.lake import Lake, LakeError

__all__ = ["Scrub", "readers", "scrub_plan"]


@dataclass
class Scrub:
    """The buckets to write again, and the newest erasure entry taken in."""

    buckets: set[int] = field(default_factory=set)
    newest: int = 0

    def __bool__(self) -> bool:
        return bool(self.buckets)


def scrub_plan(conn: Connection, lake: Lake) -> Scrub:
    """The buckets the erasures entered since the lake last took them in touched."""
    found = Scrub(newest=lake.erasures)
    entries = erasures_after(conn, lake.erasures)
    if not entries:
        return found
    found.newest = entries[-1][0]
    if not any(lake.files.values()):
        return found  # nothing exported yet: the rows go in as they are now
    ranges: list[tuple[int, int]] = []
    for _, action, detail in entries:
        if action == "resident.erase":
            for lo, hi in detail.get("tombstones", []):
                found.buckets |= _buckets(range(int(lo), int(hi) + 1), lake.buckets)
        else:
            ranges += [
                (int(lo), int(hi))
                for table, _, _, ids, _ in detail.get("reclaims", [])
                if table == "records"
                for lo, hi in ids
            ]
    if ranges:
        found.buckets |= _retired_buckets(conn, lake, ranges)
    return found


def _buckets(ids: range, count: int) -> set[int]:
    if len(ids) >= count:
        return set(range(count))
    return {k % count for k in ids}


def _retired_buckets(conn: Connection, lake: Lake, ranges: list[tuple[int, int]]) -> set[int]:
    """The buckets the retired records of these id ranges were in (the lake says where),
    and the bucket of the tombstone that holds them now."""
    holder = retired_holder_id(conn)
    if holder is None:
        return set()
    retired = retired_record_ids(conn, holder, ranges)
    if not retired:
        return set()
    paths = [str(p) for p in lake.paths("records")]
    if not paths:
        return {holder % lake.buckets}
    wanted = pa.array(sorted(set(retired)), type=pa.int64())
    near = pc.field("id") >= wanted[0].as_py()
    near &= pc.field("id") <= wanted[-1].as_py()  # row groups out of range are skipped
    try:
        table = pads.dataset(paths, format="parquet").to_table(
            columns=["bucket"], filter=near & pc.field("id").isin(wanted)
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise LakeError(f"{lake.path}: cannot read the records' buckets: {exc}") from exc
    return {int(b) for b in pc.unique(table["bucket"]).to_pylist()} | {holder % lake.buckets}


@contextmanager
def readers(path: Path, *, exclusive: bool = False) -> Iterator[None]:
    """Held (shared) while a run reads the lake's files; held exclusively by an export
    before it deletes files an erasure replaced, so no run loses a file it is reading."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle = (path / ".readers").open("ab")
    except OSError as exc:
        raise LakeError(f"{path}: cannot open the lake's readers lock: {exc}") from exc
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
