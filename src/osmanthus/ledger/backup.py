"""Backups of the ledger that restore, and that are never mistaken for complete.

- **SQLite**: SQLite's online backup API copies the database in one step, from one
  consistent read of it, while the service goes on writing (in write-ahead-log mode a
  reader does not hold writers up). The copy is written as ``DEST.partial``, synced, and
  renamed to ``DEST`` only once it is whole and passes SQLite's ``quick_check``: a backup
  killed halfway leaves no ``DEST``. A restore copies the backup into the configured
  database through the same API, as one transaction of the target: killed halfway, the
  target is as it was.
- **PostgreSQL**: ``pg_dump --format=custom`` of the ledger's schema (the connection's
  ``current_schema()``), written as ``DEST.partial`` and renamed likewise; a restore is
  ``pg_restore --single-transaction --exit-on-error`` (with ``--clean --if-exists`` when
  it replaces a ledger).

A restore refuses a file that is not a backup of a ledger, a backup of the other kind of
database, and (unless ``replace``) a target that already holds a ledger. Afterwards
``osmanthus audit verify`` and the published checkpoints verify as before.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from osmanthus.durable import fsync_path
from osmanthus.errors import ConfigError, LedgerError
from osmanthus.ledger.audit_log import take_chain
from osmanthus.ledger.database import database_errors, sqlite_file
from osmanthus.ledger.key_fingerprint import check_key

__all__ = ["Backup", "backup", "restore"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class Backup:
    """What a backup or restore did: the file, its size and the chain's last entry."""

    path: Path
    kind: str
    size: int
    head_seq: int


def _partial(dest: Path) -> Path:
    return dest.with_name(dest.name + ".partial")


def _publish(partial: Path, dest: Path) -> None:
    """Rename the finished copy into place, synced, so that ``dest`` is whole or absent."""
    fsync_path(partial)
    partial.replace(dest)
    fsync_path(dest.parent)


def _libpq_url(engine: Engine) -> str:
    """The engine's URL as libpq reads it (``postgresql://``, no driver name)."""
    return make_url(engine.url).set(drivername="postgresql").render_as_string(hide_password=False)


_HEAD_SQL = "SELECT coalesce(max(seq), 0) FROM audit_log"


def _head_seq(engine: Engine) -> int:
    with database_errors("audit"), engine.connect() as conn:
        return int(conn.execute(text(_HEAD_SQL)).scalar_one())


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConfigError(f"backup: {name} is not installed (Debian: postgresql-client)")
    return found


def _run(command: list[str], what: str) -> str:
    """Run a PostgreSQL client tool; its output, or its last error line as ours."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise LedgerError(f"{what}: {Path(command[0]).name} failed: {reason}")
    return done.stdout


def backup(engine: Engine, dest: Path) -> Backup:
    """Copy the ledger to ``dest`` (overwritten only once the new copy is whole)."""
    if not _holds_ledger(engine):
        raise LedgerError("backup: the database holds no ledger (run 'osmanthus init')")
    dest = dest.resolve()
    if dest.is_dir():
        raise ConfigError(f"backup: {dest} is a folder; name the backup file")
    if not dest.parent.is_dir():
        raise ConfigError(f"backup: folder {dest.parent} does not exist")
    partial = _partial(dest)
    partial.unlink(missing_ok=True)
    database = sqlite_file(engine)
    if database is not None:
        kind = "sqlite"
        with database_errors("backup"), engine.begin() as conn:
            take_chain(conn)  # entries waiting in the audit overflow go into the copy
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # one step: one consistent read, writers go on
            if copy.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise LedgerError(f"backup: the copy {partial} failed SQLite's quick_check")
            head = int(copy.execute(_HEAD_SQL).fetchone()[0])
        finally:
            copy.close()
            source.close()
    elif engine.dialect.name == "postgresql":
        kind = "postgresql"
        # pg_dump reads the snapshot of a transaction held open here, in which the
        # chain's head is read: the head reported is the backup's own
        snapshot_read = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with snapshot_read as conn, conn.begin():
            schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
            snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            head = int(conn.execute(text(_HEAD_SQL)).scalar_one())
            _run(
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    f"--schema={schema}",
                    f"--snapshot={snapshot}",
                    f"--file={partial}",
                    _libpq_url(engine),
                ],
                "backup",
            )
    else:
        raise ConfigError(f"backup: no backup for a {engine.dialect.name} database")
    _publish(partial, dest)
    return Backup(dest, kind, dest.stat().st_size, head)


def _holds_ledger(engine: Engine) -> bool:
    """True when the database holds a ledger (a missing SQLite file holds none)."""
    database = sqlite_file(engine)
    if database is not None and not Path(database).exists():
        return False
    with database_errors("ledger"), engine.connect() as conn:
        return bool(inspect(conn).has_table("audit_log"))


def _kind_of(source: Path) -> str:
    try:
        with source.open("rb") as handle:
            start = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise ConfigError(f"restore: cannot read {source}: {exc.strerror}") from None
    if start.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if start.startswith(_PG_MAGIC):
        return "postgresql"
    raise ConfigError(f"restore: {source} is not an Osmanthus backup (neither SQLite nor pg_dump)")


def _check_sqlite_backup(source: Path, key: bytes) -> None:
    """Refuse a SQLite file that is not a whole ledger, or one set up with another key."""
    try:
        found = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            if found.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise ConfigError(f"restore: {source} is damaged (SQLite's quick_check)")
            tables = {row[0] for row in found.execute("SELECT name FROM sqlite_master")}
        finally:
            found.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"restore: {source} is not a whole backup: {exc}") from None
    if not {"audit_log", "alembic_version"} <= tables:
        raise ConfigError(f"restore: {source} holds no ledger")
    from sqlalchemy import create_engine

    backup_engine = create_engine(f"sqlite:///file:{source}?mode=ro&uri=true")
    try:
        with backup_engine.connect() as conn:
            check_key(conn, key)
    finally:
        backup_engine.dispose()


def _without_existing_schemas(engine: Engine, source: Path) -> Path:
    """A ``pg_restore --use-list`` file of the backup's entries, less the creation of any
    schema the target database already has: a new database has ``public``, whose
    ``CREATE SCHEMA`` would fail the restore."""
    with engine.connect() as conn:
        existing = set(conn.execute(text("SELECT nspname FROM pg_namespace")).scalars())
    listed = _run(
        [_tool("pg_restore"), "--list", str(source)], f"restore: {source} is not a whole backup"
    )
    kept = [
        line
        for line in listed.splitlines()
        if not (
            (found := re.match(r"^\d+; \d+ \d+ SCHEMA - (\S+) ", line)) and found[1] in existing
        )
    ]
    handle, name = tempfile.mkstemp(prefix="osmanthus-restore-", suffix=".list")
    with os.fdopen(handle, "w", encoding="utf-8") as listing:
        listing.write("\n".join(kept) + "\n")
    return Path(name)


def restore(engine: Engine, source: Path, key: bytes, *, replace: bool = False) -> Backup:
    """Restore ``source`` (a file :func:`backup` wrote) into the configured database."""
    source = source.resolve()
    if not source.is_file():
        raise ConfigError(f"restore: {source} does not exist")
    kind = _kind_of(source)
    target = "sqlite" if sqlite_file(engine) is not None else engine.dialect.name
    if kind != target:
        raise ConfigError(f"restore: {source} is a {kind} backup; the ledger is on {target}")
    if _holds_ledger(engine) and not replace:
        raise ConfigError(
            "restore: the database already holds a ledger; stop the service and add "
            "--replace to overwrite it"
        )
    if kind == "sqlite":
        _check_sqlite_backup(source, key)
        database = sqlite_file(engine)
        assert database is not None
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine.dispose()
        found = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        into = sqlite3.connect(database, timeout=60)
        try:
            found.backup(into)  # one transaction of the target
        finally:
            into.close()
            found.close()
    else:
        command = [_tool("pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner"]
        listing = None
        if replace:
            command += ["--clean", "--if-exists"]
        else:  # a schema the target has already (public, in a new database) is not made
            listing = _without_existing_schemas(engine, source)
            command += [f"--use-list={listing}"]
        try:
            _run([*command, f"--dbname={_libpq_url(engine)}", str(source)], "restore")
        finally:
            if listing is not None:
                listing.unlink(missing_ok=True)
        engine.dispose()
    return Backup(source, kind, source.stat().st_size, _head_seq(engine))
