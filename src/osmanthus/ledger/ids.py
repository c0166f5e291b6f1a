"""Row ids taken before the rows are written, so that a bulk write's row digests are
computed from exactly what it writes (:mod:`osmanthus.ledger.seal_columns`)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Table, func, select, text

from osmanthus.ledger.settling import enter_write

__all__ = ["allocate_ids"]


def allocate_ids(conn: Connection, table: Table, n: int) -> npt.NDArray[np.int64]:
    """Ascending ids for ``n`` new rows of ``table`` (``residents`` or ``records``), above
    every id taken before.

    SQLite: after the largest id (the writing transaction holds the only write lock).
    PostgreSQL: from the table's sequence, inside the write gate
    (:mod:`osmanthus.ledger.settling`): without it a lake export could settle its
    watermark above ids taken but not yet written, and miss those rows.
    """
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if conn.dialect.name == "postgresql":
        enter_write(conn)
        # the sequence is named once (a sub-query), not once a row: 1 M ids took 2.8 s
        # that way and take about 0.3 s; and they come back as ranges of consecutive ids
        # (one, unless another writer took ids at the same time), not one by one
        ranges = conn.execute(
            text(
                "WITH taken AS (SELECT nextval((SELECT pg_get_serial_sequence("
                f"'{table.name}', 'id'))::regclass) AS id FROM generate_series(1, :n)) "
                "SELECT min(id), max(id) FROM (SELECT id, id - row_number() OVER (ORDER BY id)"
                " AS run FROM taken) runs GROUP BY run ORDER BY 1"
            ),
            {"n": n},
        ).all()
        ids = np.concatenate([np.arange(lo, hi + 1, dtype=np.int64) for lo, hi in ranges])
        if len(ids) != n:  # pragma: no cover - nextval gives n distinct values
            raise RuntimeError(f"{table.name}: {len(ids)} ids taken for {n} rows")
        return ids
    start = int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
    return np.arange(start, start + n, dtype=np.int64)
