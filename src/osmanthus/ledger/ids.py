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
        got = conn.execute(
            text(
                f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": n},
        ).scalars()
        return np.sort(np.fromiter(got, dtype=np.int64, count=n))
    start = int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
    return np.arange(start, start + n, dtype=np.int64)
