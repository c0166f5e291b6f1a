"""Opening the ledger database, migrating it, and translating database errors.

SQLite runs in WAL mode with foreign keys on; every transaction that writes starts with
``BEGIN IMMEDIATE`` so that writers queue instead of failing half-way. PostgreSQL is used
as it is. Foreign exceptions (sqlite3, psycopg, SQLAlchemy) become :class:`LedgerError`
or :class:`RecordRefused` here and nowhere else.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from osmanthus.errors import ConfigError, LedgerError, RecordRefused

__all__ = [
    "PAGE_CACHE_KIB",
    "WAL_KEPT_BYTES",
    "connect",
    "database_errors",
    "durable_transaction",
    "is_current",
    "migrate",
    "read_only",
]

MIGRATIONS = Path(__file__).with_name("migrations")
_BEGIN_OPTION = "osmanthus_sqlite_begin"
_DURABLE_OPTION = "osmanthus_durable"
_CHECKED_OPTION = "osmanthus_references_checked"


#: Pooled connections kept open (and as many more on demand): a web worker runs requests
#: on up to 40 threads, and opening a connection costs far more than keeping one.
POOL = 20


def connect(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; creates the directory of a SQLite file if needed."""
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError) as exc:
        raise ConfigError(
            f"settings: 'database_url' is not a usable SQLAlchemy URL "
            f"(expected sqlite:///path or postgresql+psycopg://host/db): {exc}"
        ) from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"settings: 'database_url' backend {parsed.get_backend_name()!r} is not supported "
            "(expected sqlite or postgresql)"
        )
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            raise ConfigError(
                "settings: 'database_url' names an SQLite database in memory: a ledger lives "
                "in a file (sqlite:///path/to/ledger.db)"
            )
        if database:
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"settings: cannot create the database directory for {database}: {exc.strerror}"
                ) from exc
        from osmanthus.ledger.sqlite_connection import LedgerConnection

        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": 60, "factory": LedgerConnection},
            pool_size=POOL,
            max_overflow=POOL,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=POOL, max_overflow=POOL)


#: SQLite page cache of every connection, in KiB (256 MiB; a batch's writer takes less:
#: osmanthus.ledger.staged).
PAGE_CACHE_KIB = 256 * 1024
#: Size the write-ahead log file is cut back to when it starts again after a checkpoint:
#: what it reaches under steady load (osmanthus.ledger.upkeep.RESTART_FRAMES pages of
#: 4 KiB), so a spike's high-water mark is not kept.
WAL_KEPT_BYTES = 16 * 1024 * 1024


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        # After a spike (a large batch), the log is cut back when it next starts again.
        cursor.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        sync = "FULL" if options.get(_DURABLE_OPTION) else "NORMAL"
        checks = "OFF" if options.get(_CHECKED_OPTION) else "ON"
        # a durable transaction (a batch) keeps its stage and savepoint journals in files
        # (the page cache's, not the process's, memory): 2.9 M rows, 558 -> 508 MiB
        temp = "FILE" if options.get(_DURABLE_OPTION) else "MEMORY"
        state = conn.connection.info  # per database connection: set a pragma only on change
        if state.get("osmanthus_pragmas") != (sync, checks, temp):
            conn.exec_driver_sql(f"PRAGMA synchronous={sync}")
            conn.exec_driver_sql(f"PRAGMA foreign_keys={checks}")
            conn.exec_driver_sql(f"PRAGMA temp_store={temp}")
            state["osmanthus_pragmas"] = (sync, checks, temp)
        conn.exec_driver_sql(f"BEGIN {options.get(_BEGIN_OPTION, 'IMMEDIATE')}")


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A connection for reads that do not need the write lock (SQLite: deferred BEGIN)."""
    with engine.connect() as conn, database_errors():
        conn = conn.execution_options(**{_BEGIN_OPTION: "DEFERRED"})
        with conn.begin():
            yield conn


@contextmanager
def durable_transaction(
    engine: Engine, *, references_checked: bool = False
) -> Iterator[Connection]:
    """A write transaction whose commit is on disk before it returns, power loss included.

    SQLite: ``synchronous=FULL`` for this transaction (WAL is fsynced at commit; the
    default NORMAL survives a killed process but not a power cut). PostgreSQL commits
    durably by default. Use it where a commit is acknowledged to someone (intake).

    ``references_checked``: the caller's statements only write references they have just
    checked (intake joins every record to its resident), so SQLite skips its per-row
    foreign-key checks for this transaction. PostgreSQL always checks.
    """
    with engine.connect() as conn:
        conn = conn.execution_options(
            **{_DURABLE_OPTION: True, _CHECKED_OPTION: references_checked}
        )
        with conn.begin():
            yield conn


@contextmanager
def database_errors(where: str = "ledger") -> Iterator[None]:
    """Translate database exceptions into Osmanthus errors, at this one boundary."""
    try:
        yield
    except sqlalchemy.exc.IntegrityError as exc:
        raise RecordRefused(f"{where}: refused by the database: {_first_line(exc)}") from exc
    except sqlalchemy.exc.OperationalError as exc:
        raise LedgerError(f"{where}: database error: {_first_line(exc)}") from exc
    except sqlalchemy.exc.ProgrammingError as exc:
        raise LedgerError(
            f"{where}: database error (run 'osmanthus init'?): {_first_line(exc)}"
        ) from exc
    except sqlalchemy.exc.DBAPIError as exc:
        raise LedgerError(f"{where}: database error: {_first_line(exc)}") from exc
    except _driver_errors("IntegrityError") as exc:  # raw driver paths
        message = str(exc).strip().splitlines()[0]
        raise RecordRefused(f"{where}: refused by the database: {message}") from exc
    except _driver_errors("Error") as exc:
        message = str(exc).strip().splitlines()[0]
        raise LedgerError(f"{where}: database error: {message}") from exc


def _driver_errors(kind: str) -> tuple[type[Exception], ...]:
    """The DBAPI drivers' exception class ``kind``: sqlite3's, and psycopg's once it is
    loaded (no psycopg exception can be raised before it is, so a SQLite look-up need not
    import it)."""
    psycopg = sys.modules.get("psycopg")
    found: tuple[type[Exception], ...] = (getattr(sqlite3, kind),)
    return (*found, getattr(psycopg, kind)) if psycopg is not None else found


def _first_line(exc: sqlalchemy.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config  # Alembic loads only to migrate (about 0.15 s)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (creates it on an empty database).

    On SQLite a migration that changes a column rebuilds the table (copy, drop, rename),
    which foreign keys pointing at it would refuse: as SQLite prescribes, the migrations
    run with foreign-key enforcement off and every reference is checked before commit
    (``PRAGMA foreign_key_check``)."""
    from alembic import command

    with database_errors("migrate"), engine.connect() as raw:
        conn = raw.execution_options(**{_CHECKED_OPTION: engine.dialect.name == "sqlite"})
        with conn.begin():
            command.upgrade(_alembic_config(conn), "head")
            if engine.dialect.name == "sqlite":
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise LedgerError(
                        f"migrate: table {broken[0]} row {broken[1]} points at a missing "
                        f"row of {broken[2]}: nothing migrated"
                    )


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine (None for other databases and memory)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        return None
    return str(database)


def is_current(engine: Engine) -> bool:
    """True when the database is at the newest migration (a missing file is not created)."""
    database = sqlite_file(engine)
    if database is not None and not Path(database).exists():
        return False
    with database_errors("ledger"), engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        return current == [head_revision()]


def head_revision() -> str:
    """The newest migration's revision. The history is linear and each revision is its
    file's number (``0008_sealed_rows.py`` is ``0008``; tests/ledger/test_schema.py
    checks this against Alembic's own reading), so no Alembic import is needed to know it."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("0*.py"))
