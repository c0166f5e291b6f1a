"""The service's database role on PostgreSQL: it may add rows, never change the past.

Migrations run as the ledger's owner; the web service and the CLI connect as a role that
``osmanthus init --service-role NAME`` creates (if missing, with LOGIN and no password:
set one, or a certificate, yourself) and grants:

- ``SELECT, INSERT`` on the append-only tables (``records``, ``residents``, ...),
  ``audit_log`` and ``audit_checkpoints``: no UPDATE, DELETE or TRUNCATE, and, not being
  the owner, it cannot disable or drop the triggers that refuse those either;
- ``SELECT, INSERT, UPDATE, DELETE`` on the current-state tables (``api_keys``,
  ``resident_credentials``, ``disputes``: each write claimed by its audit entry) and on
  the derived ones (``record_counts``, ``audit_subjects``, ``audit_indexed``) and the
  notice outbox's working state (``notice_deliveries``, ``notice_cursors``);
- ``SELECT`` on ``alembic_version``; ``USAGE, SELECT`` on the schema's sequences;
  ``USAGE`` on the schema;
- archiving's narrow path (:mod:`osmanthus.ledger.archive`): ``DELETE`` on
  ``audit_log``, which the row trigger of migration 0019 lets through only for an entry
  that a row of ``audit_archives`` covers;
- erasure's narrow path (:mod:`osmanthus.ledger.erasure`): ``UPDATE`` on the personal
  columns of the erasable append-only tables only (:data:`ERASURE_COLUMNS`), and the
  row triggers of migration 0013 let an UPDATE through only in the erased shape.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

from osmanthus.errors import ConfigError
from osmanthus.ledger.database import database_errors
from osmanthus.ledger.sealed import SEALED

__all__ = ["APPEND_ONLY", "CURRENT_STATE", "DERIVED", "ERASURE_COLUMNS", "grant_service_role"]

APPEND_ONLY = (
    *(name for name, sealed in SEALED.items() if sealed.append_only),
    "audit_log",
    "audit_checkpoints",
    "audit_archives",
)
CURRENT_STATE = tuple(name for name, sealed in SEALED.items() if not sealed.append_only)
DERIVED = (
    "record_counts",
    "audit_subjects",
    "audit_indexed",
    "notice_deliveries",
    "notice_cursors",
    "rechecks",
    "retention_checks",
    "web_sessions",
    "signin_attempts",
)
#: The columns an erasure may change, per table (granted to the service's role).
ERASURE_COLUMNS = {
    "residents": ("pseudonym", "district", "birth_year"),
    "records": ("source_ref", "incident_ref", "reason", "resident_id"),
    "profile_facts": ("source_ref",),
    "dispute_events": ("reason",),
    "notices": ("payload",),
    "audit_log": ("subject", "detail", "salt", "subject_digest", "detail_digest"),
}
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_service_role(engine: Engine, role: str) -> bool:
    """Create ``role`` unless it exists and grant it the service's rights on the ledger's
    schema (run as the owner, after migrating); return True when the role was created."""
    if engine.dialect.name != "postgresql":
        raise ConfigError("--service-role: a database role exists on PostgreSQL only")
    if not _ROLE.match(role):
        raise ConfigError(
            f"--service-role: expected a lower-case name of letters, digits and _, found {role!r}"
        )
    with database_errors("service role"), engine.begin() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
        ).first()
        if exists is None:
            conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        statements = [
            f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
            f'GRANT SELECT, INSERT ON {", ".join(APPEND_ONLY)} TO "{role}"',
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(CURRENT_STATE + DERIVED)} "
            f'TO "{role}"',
            f'GRANT SELECT ON alembic_version TO "{role}"',
            # archiving's narrow path: the row trigger of migration 0019 lets a DELETE of
            # an entry through only when an archive covers it
            f'GRANT DELETE ON audit_log TO "{role}"',
            *(
                f'GRANT UPDATE ({", ".join(columns)}) ON {table} TO "{role}"'
                for table, columns in ERASURE_COLUMNS.items()
            ),
            f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"',
        ]
        for statement in statements:
            conn.exec_driver_sql(statement)
    return exists is None
