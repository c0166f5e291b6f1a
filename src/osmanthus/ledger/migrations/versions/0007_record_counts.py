"""Original records counted per department and metric as they are written, for coverage
(osmanthus.ledger.record_counts): counting them with a GROUP BY over the whole ledger took
0.34 s for the 378,783 records of the 100,000-resident demo city, about 45 s at city
scale, on every load of the oversight dashboard. A trigger on ``records`` keeps
``record_counts`` in the same transaction as every insert, whichever path writes it.
The records already stored are counted here.

- SQLite (one writer at a time): a row trigger adds one to the pair's row, or makes it.
- PostgreSQL: a statement trigger adds one row per pair for the statement's new rows (a
  transition table, so COPY and INSERT ... SELECT count once). It never updates a row
  that another transaction may have written: an upsert made every writer of the same
  department and metric wait for the first to commit, and two batches locking metrics
  in different orders could deadlock. The rows are folded later. The function keeps the
  schema it was created in (``SET search_path FROM CURRENT``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_SQLITE_TRIGGER = """
CREATE TRIGGER records_counted AFTER INSERT ON records WHEN NEW.kind = 'original'
BEGIN
    UPDATE record_counts SET records = records + 1
    WHERE department_id = NEW.department_id AND metric = NEW.metric;
    INSERT INTO record_counts (department_id, metric, records)
    SELECT NEW.department_id, NEW.metric, 1 WHERE changes() = 0;
END
"""
_PG_FUNCTION = """
CREATE FUNCTION count_records() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO record_counts (department_id, metric, records)
    SELECT department_id, metric, count(*) FROM new_records
    WHERE kind = 'original'
    GROUP BY department_id, metric;
    RETURN NULL;
END
$$
"""
_PG_TRIGGER = """
CREATE TRIGGER records_counted AFTER INSERT ON records
REFERENCING NEW TABLE AS new_records
FOR EACH STATEMENT EXECUTE FUNCTION count_records()
"""


def upgrade() -> None:
    op.create_table(
        "record_counts",
        sa.Column("id", Key, nullable=False),
        sa.Column("department_id", sa.Integer, nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("records", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name="fk_record_counts_department_id_departments",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_record_counts"),
    )
    op.create_index(
        "ix_record_counts_department_id_metric", "record_counts", ["department_id", "metric"]
    )
    if op.get_bind().dialect.name == "postgresql":
        # No record may be committed between the count below and the trigger's start:
        # writers wait for this migration (SQLite's write lock already keeps them out).
        op.execute("LOCK TABLE records IN SHARE MODE")
    op.execute(
        "INSERT INTO record_counts (department_id, metric, records) "
        "SELECT department_id, metric, count(*) FROM records WHERE kind = 'original' "
        "GROUP BY department_id, metric"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER records_counted ON records")
        op.execute("DROP FUNCTION count_records()")
    else:
        op.execute("DROP TRIGGER records_counted")
    op.drop_table("record_counts")
