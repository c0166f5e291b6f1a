"""The database's guards of the append-only tables, as the migrations create them: on
PostgreSQL a statement trigger calling ``refuse_change()`` (migration 0008 defines it) on
UPDATE, DELETE and TRUNCATE; on SQLite a trigger for UPDATE and one for DELETE that
abort with the table's name.

Since migration 0013 the tables that hold personal data (:data:`ERASABLE`) allow one
kind of UPDATE, an erasure (:mod:`osmanthus.ledger.erasure`), row by row: the columns it
keeps unchanged, the personal ones set to their erased form. The audit chain vouches
for the result (the erasure's entry re-claims what it changed)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ERASABLE",
    "RETIRED",
    "append_only_triggers",
    "archive_delete_triggers",
    "drop_append_only_triggers",
    "drop_archive_delete_triggers",
    "erasure_shape",
    "erasure_triggers",
]


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


#: The append-only tables whose personal columns erasure may clear (migration 0013).
ERASABLE = ("residents", "records", "profile_facts", "dispute_events", "notices", "audit_log")

#: The pseudonym of the tombstone that holds records past their retention.
RETIRED = "erased-records"

#: Per table: the columns an erasure leaves as they are, and what it sets (a condition on
#: the new row, SQLite spelling; ``{new}``/``{old}`` name the rows).
_ERASURE: dict[str, tuple[tuple[str, ...], str]] = {
    "residents": (
        ("id", "registered_at"),
        "{new}.pseudonym = 'erased-' || {old}.id AND {new}.district = '' "
        "AND {new}.birth_year = 0 AND {old}.pseudonym NOT LIKE 'erased-%'",
    ),
    "records": (
        (
            "id",
            "department_id",
            "metric",
            "value",
            "act_date",
            "decision_date",
            "recorded_at",
            "kind",
            "supersedes_id",
            "batch_id",
            "severity",
        ),
        "{new}.source_ref = 'erased-' || {old}.id AND {new}.incident_ref IS NULL "
        "AND {new}.reason IS NULL AND ({new}.resident_id = {old}.resident_id OR "
        f"{{new}}.resident_id = (SELECT id FROM residents WHERE pseudonym = '{RETIRED}'))",
    ),
    "profile_facts": (
        ("id", "resident_id", "attribute", "value", "department_id", "recorded_at"),
        "{new}.source_ref = 'erased-' || {old}.id",
    ),
    "dispute_events": (
        ("id", "dispute_id", "kind", "actor", "at", "due", "record_id"),
        "{new}.reason IS NULL",
    ),
    "notices": (
        ("id", "resident_id", "kind", "key", "created_at", "not_before"),
        "{new}.payload = '{{}}'",
    ),
    "audit_log": (
        ("seq", "at", "actor", "action", "purpose", "prev_hash", "hash", "sealed"),
        "{old}.salt IS NOT NULL AND {new}.salt IS NULL AND {new}.subject IS NULL "
        "AND {new}.detail = '{{}}' AND {new}.subject_digest IS NOT NULL "
        "AND {new}.detail_digest IS NOT NULL",
    ),
}


def erasure_shape(table: str, dialect: str) -> str:
    """The condition an UPDATE of ``table`` must meet: an erasure, nothing else."""
    kept, sets = _ERASURE[table]
    if dialect == "postgresql":
        same = [f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in kept]
        return " AND ".join([*same, sets.format(new="NEW", old="OLD")])
    same = [f"new.{c} IS old.{c}" for c in kept]
    return " AND ".join([*same, sets.format(new="new", old="old")])


def erasure_triggers(dialect: str) -> list[str]:
    """The guards of the erasable tables: DELETE refused, UPDATE only as an erasure."""
    found = []
    for table in ERASABLE:
        shape = erasure_shape(table, dialect)
        message = f"osmanthus: {table} is append-only: only an erasure may change a row"
        if dialect == "postgresql":
            found += [
                f"CREATE TRIGGER {table}_append_only BEFORE DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()",
                f"CREATE FUNCTION {table}_erasure_only() RETURNS trigger LANGUAGE plpgsql "
                f"AS $$ BEGIN IF NOT ({shape}) THEN RAISE EXCEPTION '{message}' USING "
                "ERRCODE = 'insufficient_privilege'; END IF; RETURN NEW; END $$",
                f"CREATE TRIGGER {table}_erasure_only BEFORE UPDATE ON {table} FOR EACH ROW "
                f"EXECUTE FUNCTION {table}_erasure_only()",
            ]
            continue
        found += [
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN SELECT "
            f"RAISE(ABORT, 'osmanthus: {table} is append-only: DELETE refused'); END",
            f"CREATE TRIGGER {table}_erasure_only BEFORE UPDATE ON {table} WHEN NOT ({shape}) "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
        ]
    return found


def drop_append_only_triggers(
    dialect: str, tables: Iterable[str], *, erasure: bool = False
) -> list[str]:
    """The statements that drop the guards :func:`append_only_triggers` (or, with
    ``erasure``, :func:`erasure_triggers`) made on ``tables``."""
    found = []
    for table in tables:
        if dialect == "postgresql":
            found.append(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            if erasure:
                found.append(f"DROP TRIGGER IF EXISTS {table}_erasure_only ON {table}")
                found.append(f"DROP FUNCTION IF EXISTS {table}_erasure_only()")
            continue
        found.append(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        found.append(
            f"DROP TRIGGER IF EXISTS {table}_erasure_only"
            if erasure
            else f"DROP TRIGGER IF EXISTS {table}_no_update"
        )
    return found


_ARCHIVED = "SELECT 1 FROM {table} a WHERE {old}.seq BETWEEN a.first_seq AND a.last_seq"


def archive_delete_triggers(dialect: str, schema: str | None = None) -> list[str]:
    """The guard of ``audit_log`` against DELETE since migration 0019: an entry may be
    deleted only when a row of ``audit_archives`` covers it (a closed month exported and
    its checkpoint signed, :mod:`osmanthus.ledger.archive`); TRUNCATE stays refused.
    (An archive row made by hand carries no valid signature: verification refuses it.)

    On PostgreSQL the function names the table with its ``schema`` and runs with that
    schema first on its search path and ``pg_temp`` last, so that a session cannot put a
    temporary ``audit_archives`` of its own in front of the real one. The erasure guards'
    functions (migration 0013) get the same pinned search path."""
    message = "osmanthus: audit_log is append-only: only an archived entry may be detached"
    if dialect == "postgresql":
        assert schema is not None
        quoted = f'"{schema}"'
        path = f"SET search_path = {quoted}, pg_temp"
        table = f"{quoted}.audit_archives"
        return [
            "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
            "CREATE TRIGGER audit_log_append_only BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()",
            "CREATE FUNCTION audit_log_archived_only() RETURNS trigger LANGUAGE plpgsql "
            f"{path} AS $$ BEGIN IF NOT EXISTS ({_ARCHIVED.format(table=table, old='OLD')}) "
            f"THEN RAISE EXCEPTION '{message}' USING ERRCODE = 'insufficient_privilege'; "
            "END IF; RETURN OLD; END $$",
            "CREATE TRIGGER audit_log_archived_only BEFORE DELETE ON audit_log FOR EACH ROW "
            "EXECUTE FUNCTION audit_log_archived_only()",
            *(f"ALTER FUNCTION {name}_erasure_only() {path}" for name in ERASABLE),
        ]
    return [
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        f"WHEN NOT EXISTS ({_ARCHIVED.format(table='audit_archives', old='old')}) "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
    ]


def drop_archive_delete_triggers(dialect: str) -> list[str]:
    """Undo :func:`archive_delete_triggers`: DELETE on ``audit_log`` refused again."""
    if dialect == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS audit_log_archived_only ON audit_log",
            "DROP FUNCTION IF EXISTS audit_log_archived_only()",
            *(f"ALTER FUNCTION {name}_erasure_only() RESET search_path" for name in ERASABLE),
            "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
            "CREATE TRIGGER audit_log_append_only BEFORE DELETE OR TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()",
        ]
    return [
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT "
        "RAISE(ABORT, 'osmanthus: audit_log is append-only: DELETE refused'); END",
    ]
