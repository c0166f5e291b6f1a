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
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from sqlalchemy import Connection, select

from osmanthus.ledger.erasure import ERASURE_ACTIONS
from osmanthus.ledger.guards import RETIRED
from osmanthus.ledger.schema import audit_log, records, residents
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
    entries = conn.execute(
        select(audit_log.c.seq, audit_log.c.action, audit_log.c.detail)
        .where(audit_log.c.action.in_(ERASURE_ACTIONS), audit_log.c.seq > lake.erasures)
        .order_by(audit_log.c.seq)
    ).all()
    if not entries:
        return found
    found.newest = int(entries[-1].seq)
    if not any(lake.files.values()):
        return found  # nothing exported yet: the rows go in as they are now
    ranges: list[tuple[int, int]] = []
    for entry in entries:
        detail = json.loads(entry.detail) if isinstance(entry.detail, str) else entry.detail
        if entry.action == "resident.erase":
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
    holder = conn.execute(select(residents.c.id).where(residents.c.pseudonym == RETIRED)).scalar()
    if holder is None:
        return set()
    retired: list[int] = []
    for lo, hi in ranges:
        retired += conn.scalars(
            select(records.c.id).where(
                records.c.resident_id == holder, records.c.id >= lo, records.c.id <= hi
            )
        ).all()
    if not retired:
        return set()
    paths = [str(p) for p in lake.paths("records")]
    if not paths:
        return {int(holder) % lake.buckets}
    wanted = pa.array(sorted(set(retired)), type=pa.int64())
    near = pc.field("id") >= wanted[0].as_py()
    near &= pc.field("id") <= wanted[-1].as_py()  # row groups out of range are skipped
    try:
        table = pads.dataset(paths, format="parquet").to_table(
            columns=["bucket"], filter=near & pc.field("id").isin(wanted)
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise LakeError(f"{lake.path}: cannot read the records' buckets: {exc}") from exc
    return {int(b) for b in pc.unique(table["bucket"]).to_pylist()} | {int(holder) % lake.buckets}


def rows_in(paths: list[Path]) -> int:
    """The rows the Parquet files hold, from their footers."""
    return sum(pq.read_metadata(path).num_rows for path in paths)


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
