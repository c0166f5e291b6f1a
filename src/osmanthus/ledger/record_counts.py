"""Original records per department and metric, for coverage, without counting the ledger.

A trigger on ``records`` (migration 0007) keeps ``record_counts`` in the same transaction
as every insert. On SQLite each pair has one row. On PostgreSQL each writing statement
adds its own rows (a statement never updates a row another transaction may have written,
so writers of the same department and metric never wait for each other); the web
service's upkeep folds them now and then (:func:`fold_counts`). A pair's count is the sum
of its rows either way (:func:`record_counts_by_pair`).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select, text

from osmanthus.ledger.schema import record_counts

__all__ = ["fold_counts", "record_counts_by_pair"]

#: One statement: the rows of each pair with more than one row are deleted and their sum
#: written back as one row. Rows of transactions not yet committed are not seen, so they
#: stay, and are folded another time.
_FOLD = text(
    """
    WITH gone AS (
        DELETE FROM record_counts
        WHERE (department_id, metric) IN (
            SELECT department_id, metric FROM record_counts
            GROUP BY department_id, metric HAVING count(*) > 1
        )
        RETURNING department_id, metric, records
    )
    INSERT INTO record_counts (department_id, metric, records)
    SELECT department_id, metric, sum(records) FROM gone GROUP BY department_id, metric
    """
)


def record_counts_by_pair(conn: Connection) -> dict[tuple[int, str], int]:
    """Original records by (department id, metric)."""
    rows = conn.execute(
        select(
            record_counts.c.department_id, record_counts.c.metric, func.sum(record_counts.c.records)
        ).group_by(record_counts.c.department_id, record_counts.c.metric)
    ).all()
    return {(department, metric): int(count) for department, metric, count in rows}


def fold_counts(engine: Engine) -> int:
    """Fold each pair's rows into one (PostgreSQL; SQLite keeps one row a pair); return
    how many pairs were folded."""
    if engine.dialect.name != "postgresql":
        return 0
    with engine.begin() as conn:
        return int(conn.execute(_FOLD).rowcount or 0)
