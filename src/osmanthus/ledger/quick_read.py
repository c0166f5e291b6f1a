"""The web service's hot read: a resident and their record rows, by pseudonym, on one
kept database connection.

Every eligibility check and score page starts with this read. Through SQLAlchemy's pool,
transaction and ``Row`` layers it cost about 200 µs; the same statement on a kept DBAPI
connection about 25 µs (measured on the 100,000-resident demo city). So the statements
stay SQLAlchemy Core, compiled once for the engine's dialect, and only their execution
is raw: values are converted by the columns' own type processors. The first read takes
only the record ids (about 10 µs), which is all a remembered decision needs; the rows
themselves are read when needed (a new decision, a page). SQLite reads outside a
transaction see the newest commit; the PostgreSQL connection runs in autocommit mode for
the same reason. On PostgreSQL, where each statement is a round trip to the server, the
resident's profile facts come in the same statement (two arrays).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Engine, Select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.types import TypeEngine

from osmanthus.core import ResidentInfo, StoredRecord, Suspension
from osmanthus.ledger.database import database_errors
from osmanthus.ledger.reading import (
    PROFILE,
    RECORDS,
    RESIDENT_RECORD_IDS,
    SUSPENSIONS,
    resident_record_ids_with_profile,
)

__all__ = ["QuickReader", "RecordRows"]

_Convert = Callable[[Any], Any] | None

#: StoredRecord's fields and the columns they come from (the department by its code).
_RECORD_FIELDS = tuple(
    (f.name, "department_code" if f.name == "department" else f.name) for f in fields(StoredRecord)
)


class _Prepared:
    """A Core statement compiled for one dialect, with its parameter order and the result
    processors of its columns."""

    def __init__(self, engine: Engine, statement: Select[Any]) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.order = compiled.positiontup  # None for named parameter styles
        columns = list(statement.selected_columns)
        self.index = {column.key: n for n, column in enumerate(columns)}
        self.convert: list[_Convert] = [_processor(engine, column.type) for column in columns]

    def parameters(self, values: Mapping[str, Any]) -> Any:
        return values if self.order is None else tuple(values[name] for name in self.order)


def _processor(engine: Engine, kind: TypeEngine[Any]) -> _Convert:
    """The column type's own result conversion for this dialect. PostgreSQL's numeric
    types want the driver's type code to choose; psycopg returns floats itself."""
    try:
        return kind.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
    except (TypeError, InvalidRequestError):
        return None


@dataclass(frozen=True)
class RecordRows:
    """A resident's record rows as first read: only their ids (what a remembered decision
    is keyed by); :meth:`stored` reads the rows themselves when they are needed."""

    resident_id: int
    ids: tuple[int, ...]
    reader: QuickReader

    def stored(self) -> list[StoredRecord]:
        """The rows as :class:`StoredRecord` objects, oldest first (those of :attr:`ids`:
        a record committed since the first read waits for the next read)."""
        return self.reader.records(self.resident_id, self.ids)


class QuickReader:
    """Reads on one kept connection (taken out of the pool for the service's life),
    serialised by a lock: the event loop is its main user, and a read takes microseconds."""

    def __init__(self, engine: Engine, *, with_profile: bool) -> None:
        self._engine = engine
        self._facts_inline = with_profile and engine.dialect.name == "postgresql"
        ids = resident_record_ids_with_profile() if self._facts_inline else RESIDENT_RECORD_IDS
        self._ids = _Prepared(engine, ids)
        self._rows = _Prepared(engine, RECORDS)
        self._profile = _Prepared(engine, PROFILE) if with_profile else None
        self._suspensions = _Prepared(engine, SUSPENSIONS)
        self._lock = threading.Lock()
        self._conn: PoolProxiedConnection | None = None

    def _connection(self) -> PoolProxiedConnection:
        if self._conn is None:
            conn = self._engine.raw_connection()
            conn.detach()  # ours until close(); the pool opens another in its place
            if self._engine.dialect.name == "postgresql":
                conn.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            self._conn = conn
        return self._conn

    def resident_and_records(self, pseudonym: str) -> tuple[ResidentInfo, RecordRows] | None:
        """The resident with this pseudonym and the ids of their records, or None."""
        prepared = self._ids
        with database_errors("records"), self._lock:
            rows = self._fetch(prepared.sql, prepared.parameters({"pseudonym": pseudonym}))
            if not rows:
                return None
            first = rows[0]
            index = prepared.index
            profile = {}
            if self._profile is not None:
                if self._facts_inline:
                    attributes = first[index["profile_attributes"]] or ()
                    values = first[index["profile_values"]] or ()
                    facts = list(zip(attributes, values, strict=True))
                else:
                    facts = self._fetch(
                        self._profile.sql,
                        self._profile.parameters({"resident": first[index["resident_id_"]]}),
                    )
                value = self._profile.convert[self._profile.index["value"]]
                profile = {a: value(v) if value else v for a, v in facts}  # newest wins
            suspended = (
                self._suspended(first[index["resident_id_"]]) if first[index["suspended"]] else ()
            )
        resident = ResidentInfo(
            first[index["resident_id_"]],
            first[index["pseudonym"]],
            first[index["district"]],
            first[index["birth_year"]],
            profile,
            suspended,
        )
        at = index["id"]
        ids = tuple(row[at] for row in rows if row[at] is not None)  # outer join: none
        return resident, RecordRows(resident.id, ids, self)

    def _suspended(self, resident_id: int) -> tuple[Suspension, ...]:
        """The resident's suspension facts (the caller holds the lock)."""
        prepared = self._suspensions
        rows = self._fetch(prepared.sql, prepared.parameters({"resident": resident_id}))
        if not rows:
            return ()
        names: list[str] = [str(name) for name in prepared.index]
        found = []
        for row in rows:
            pairs = zip(prepared.convert, row, strict=True)
            value = [f(v) if f is not None and v is not None else v for f, v in pairs]
            found.append(Suspension(**dict(zip(names, value, strict=True))))
        return tuple(found)

    def records(self, resident_id: int, ids: tuple[int, ...]) -> list[StoredRecord]:
        """The record rows with these ids of this resident, oldest first."""
        prepared = self._rows
        with database_errors("records"), self._lock:
            rows = self._fetch(prepared.sql, prepared.parameters({"resident": resident_id}))
        index, convert, wanted = prepared.index, prepared.convert, set(ids)
        out = []
        for row in rows:
            if row[index["id"]] not in wanted:
                continue
            pairs = zip(convert, row, strict=True)
            value = [f(v) if f is not None and v is not None else v for f, v in pairs]
            out.append(StoredRecord(**{f: value[index[c]] for f, c in _RECORD_FIELDS}))
        return out

    def _fetch(self, sql: str, parameters: Any) -> list[tuple[Any, ...]]:
        try:
            cursor = self._connection().cursor()
            cursor.execute(sql, parameters)
        except self._engine.dialect.loaded_dbapi.OperationalError:
            self.close()  # a dropped connection (a restarted server): once more, afresh
            cursor = self._connection().cursor()
            cursor.execute(sql, parameters)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(self._engine.dialect.loaded_dbapi.Error):
                conn.close()  # a broken one has nothing to release
