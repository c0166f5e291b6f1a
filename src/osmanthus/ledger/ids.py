"""Row ids taken before the rows are written, so that a bulk write's row digests are
computed from exactly what it writes (:mod:`osmanthus.ledger.seal_columns`)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Table, func, select, text

__all__ = ["allocate_ids"]


def allocate_ids(conn: Connection, table: Table, n: int) -> npt.NDArray[np.int64]:
    """Ascending ids for ``n`` new rows of ``table`` (``residents`` or ``records``), above
    every id taken before.

    SQLite: after the largest id (the writing transaction holds the only write lock).
    PostgreSQL: from the table's sequence, with ``records`` and ``residents`` locked
    ``ROW EXCLUSIVE`` first, as an INSERT would lock them: the lake export settles its
    watermarks under a ``SHARE`` lock, which waits only for transactions holding such a
    lock, and ``nextval`` takes none (without the lock an export could settle a
    watermark above ids not yet written, and miss those rows). The order is the
    export's (records, then residents), so neither can wait for the other in a circle.
    """
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE records, residents IN ROW EXCLUSIVE MODE")
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
