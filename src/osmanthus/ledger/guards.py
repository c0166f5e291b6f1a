"""The database's guards of the append-only tables, as the migrations create them: on
PostgreSQL a statement trigger calling ``refuse_change()`` (migration 0008 defines it) on
UPDATE, DELETE and TRUNCATE; on SQLite a trigger for UPDATE and one for DELETE that
abort with the table's name."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["append_only_triggers"]


def append_only_triggers(dialect: str, tables: Iterable[str]) -> list[str]:
    """The statements that make ``tables`` append-only on ``dialect``."""
    found = []
    for table in tables:
        if dialect == "postgresql":
            found.append(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
            )
            continue
        for change in ("UPDATE", "DELETE"):
            found.append(
                f"CREATE TRIGGER {table}_no_{change.lower()} BEFORE {change} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'osmanthus: {table} is append-only: "
                f"{change} refused'); END"
            )
    return found
