"""Re-claims: what the erasures in the chain said, and how an erasure vouches anew for the
groups of rows it changes.

The rows an erasure changes were claimed, in groups, by the entries that wrote them
(:mod:`osmanthus.audit.rows`). :class:`Reclaimer` finds each group and checks it against
its claim (or its newest re-claim) before anything changes, then hashes each group as it
now is: the erasure's entry carries these :class:`Reclaim` s. :func:`erasure_facts`
gathers what every erasure said (re-claims, deleted rows, redacted entries), for
verification and for the next erasure. Used by :mod:`osmanthus.ledger.erasure`.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, or_, select

from osmanthus.audit import CHUNK, Claim, group_hash, parse_claims
from osmanthus.ledger.archive import Carried, carried
from osmanthus.ledger.erasure_reads import ERASURE_ACTIONS
from osmanthus.ledger.row_check import RowsTampered, nth_id
from osmanthus.ledger.schema import audit_log
from osmanthus.ledger.sealed import SEALED, sealed_rows

__all__ = ["ErasureFacts", "Reclaim", "Reclaimer", "erasure_facts", "ranges"]


@dataclass(frozen=True)
class Reclaim:
    """A group of rows a writer's claim covered, vouched for anew by an erasure."""

    table: str
    writer: int  # the seq of the entry whose claim covers the group
    group: int
    ids: list[list[int]]  # inclusive id ranges
    hash: str
    seq: int = 0  # the erasure's entry (0 until written)

    def as_detail(self) -> list[Any]:
        return [self.table, self.writer, self.group, self.ids, self.hash]


@dataclass
class ErasureFacts:
    """What the erasures in the chain said: re-claims (newest per group), deleted rows and
    redacted entries (each with the erasure's seq)."""

    reclaims: dict[tuple[str, int, int], Reclaim] = field(default_factory=dict)
    deleted: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    redacted: dict[int, int] = field(default_factory=dict)

    def add(self, seq: int, detail: dict[str, Any]) -> None:
        for table, writer, group, ids, digest in detail.get("reclaims", []):
            self.reclaims[(table, writer, group)] = Reclaim(table, writer, group, ids, digest, seq)
        for table, keys in detail.get("deleted", {}).items():
            for key in keys:
                self.deleted[table][int(key)] = seq
        for lo, hi in detail.get("redacted", []):
            for entry in range(lo, hi + 1):
                self.redacted[entry] = seq


def erasure_facts(
    conn: Connection,
    upto: int | None = None,
    *,
    archived: Iterable[tuple[int, str, dict[str, Any]]] = (),
) -> ErasureFacts:
    """Every erasure's facts in the chain (up to entry ``upto``); ``archived``: the
    ``(seq, action, detail)`` of the erasures in archived months."""
    facts = ErasureFacts()
    for seq, _, detail in archived:
        facts.add(seq, detail)
    query = select(audit_log.c.seq, audit_log.c.detail).where(
        audit_log.c.action.in_(ERASURE_ACTIONS)
    )
    if upto is not None:
        query = query.where(audit_log.c.seq <= upto)
    for seq, detail in conn.execute(query.order_by(audit_log.c.seq)):
        facts.add(int(seq), json.loads(detail))
    return facts


def ranges(ids: Iterable[int]) -> list[list[int]]:
    """Ids (any order, repeated or not) as inclusive ranges, as JSON lists (NumPy is
    loaded here, when an erasure writes: verify reads this module's facts without it)."""
    import numpy as np

    from osmanthus.ledger.seal_columns import id_ranges

    unique = np.unique(np.fromiter(ids, dtype=np.int64))
    return [[lo, hi] for lo, hi in id_ranges(unique)]


class _Writers:
    """The claims of one table's rows, to find the group each row was vouched for in."""

    def __init__(self, conn: Connection, tables: set[str], archived: Carried) -> None:
        self.claims: dict[str, dict[int, Claim]] = defaultdict(dict)
        # per table, every claimed id range: (first id, last id, ids before it, seq)
        self.spans: dict[str, list[tuple[int, int, int, int]]] = defaultdict(list)
        with_claims = select(audit_log.c.seq, audit_log.c.detail, audit_log.c.sealed).where(
            (audit_log.c.sealed.is_not(None)) | (audit_log.c.detail.like('%"sealed":{%'))
        )
        for seq, _, claim in archived.claims:  # those of archived months' entries
            self._add(claim, seq, tables)
        for seq, detail, sealed in conn.execute(with_claims.order_by(audit_log.c.seq)):
            for claim in parse_claims(detail, sealed):
                self._add(claim, int(seq), tables)
        for spans in self.spans.values():
            spans.sort()

    def _add(self, claim: Claim, seq: int, tables: set[str]) -> None:
        if claim.table in tables:
            self.claims[claim.table][seq] = claim
            before = 0
            for lo, hi in claim.ids:
                self.spans[claim.table].append((lo, hi, before, seq))
                before += hi - lo + 1

    def groups(self, table: str, keys: Iterable[int]) -> dict[tuple[int, int], list[list[int]]]:
        """``(writer seq, group) -> the group's id ranges`` of the groups holding ``keys``."""
        spans = self.spans[table]
        firsts = [lo for lo, _, _, _ in spans]
        found: dict[tuple[int, int], list[list[int]]] = {}
        wanted = set()
        for key in keys:
            at = bisect_right(firsts, key) - 1
            if at < 0 or spans[at][1] < key:
                wanted.add(key)
                continue
            lo, _, before, seq = spans[at]
            group = (before + key - lo) // CHUNK
            if (seq, group) not in found:
                claim = self.claims[table][seq]
                first = group * CHUNK
                last = min(claim.rows, first + CHUNK) - 1
                found[(seq, group)] = ranges(nth_id(claim.ids, n) for n in range(first, last + 1))
        if wanted:
            key = min(wanted)
            raise RowsTampered(
                f"{table} row {key}: written by no audit entry (inserted outside the ledger): "
                "not erased",
                table=table,
                row=key,
                seq=None,
            )
        return found

    def expected(self, table: str, writer: int, group: int, facts: ErasureFacts) -> str:
        """The hash the group must have now: its newest re-claim's, or its writer's."""
        reclaimed = facts.reclaims.get((table, writer, group))
        if reclaimed is not None:
            return reclaimed.hash
        claim = self.claims[table][writer]
        return claim.chunks[group] if claim.chunks else claim.root


class Reclaimer:
    """Checks the groups of the rows an erasure will change (each read and encoded once,
    kept), then re-claims them with the changed rows read again."""

    def __init__(self, conn: Connection, touched: dict[str, set[int]]) -> None:
        self.conn = conn
        self.touched = touched
        archived = carried(conn)
        self.facts = erasure_facts(conn, archived=archived.erasures)
        self.writers = _Writers(conn, {t for t, keys in touched.items() if keys}, archived)
        self.groups: list[tuple[str, int, int, list[list[int]], dict[int, bytes]]] = []
        for table, keys in touched.items():
            if not keys:
                continue
            for (writer, group), ids in sorted(self.writers.groups(table, keys).items()):
                expected = self.writers.expected(table, writer, group, self.facts)
                rows = dict(_rows(conn, table, ids))
                if group_hash(rows.values()).hex() != expected:
                    raise RowsTampered(
                        f"{table} rows {ids[0][0]}–{ids[-1][1]}: changed outside the ledger "
                        f"since audit entry {writer} wrote them: not erased (verify the ledger)",
                        table=table,
                        row=ids[0][0],
                        seq=writer,
                    )
                self.groups.append((table, writer, group, ids, rows))

    def reclaims(self) -> list[Reclaim]:
        """The groups as they are now (only the rows the erasure touched read again)."""
        found = []
        for table, writer, group, ids, rows in self.groups:
            changed = [k for k in rows if k in self.touched[table]]
            for start in range(0, len(changed), 10_000):
                part = changed[start : start + 10_000]
                rows.update(_rows_where(self.conn, table, SEALED[table].key.in_(part)))
            encoded = [rows[k] for k in sorted(rows)]
            found.append(Reclaim(table, writer, group, ids, group_hash(encoded).hex()))
        return found


def _rows(conn: Connection, table: str, ids: list[list[int]]) -> list[tuple[int, bytes]]:
    key = SEALED[table].key
    return _rows_where(conn, table, or_(*(key.between(lo, hi) for lo, hi in ids)))


def _rows_where(conn: Connection, table: str, where: Any) -> list[tuple[int, bytes]]:
    return list(sealed_rows(conn, table, where))
