"""The bulk write path: the same validation as the single-row path, column by column.

A :class:`ResidentBatch` and a :class:`RecordBatch` are validated as whole columns
(numpy; no Python loop per row for the checks), then written in one transaction with
one audit entry. The first failing row is named and nothing is written.

SQLite takes rows through ``executemany`` on the raw driver; PostgreSQL through COPY.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, select

from osmanthus.audit import ClaimBuilder
from osmanthus.core import Actor
from osmanthus.errors import RecordRefused, ValidationError
from osmanthus.identity import validate_many
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.database import database_errors
from osmanthus.ledger.ids import allocate_ids
from osmanthus.ledger.ledger import Ledger
from osmanthus.ledger.schema import records, residents
from osmanthus.ledger.seal_columns import add_rows
from osmanthus.policy import Metric

__all__ = ["BulkResult", "RecordBatch", "ResidentBatch", "bulk_load"]


@dataclass
class ResidentBatch:
    """Columns of residents to register: national ID numbers and districts."""

    national_id: npt.NDArray[np.str_]
    district: npt.NDArray[np.str_]

    def __len__(self) -> int:
        return int(self.national_id.shape[0])


@dataclass
class RecordBatch:
    """Columns of original records about residents of the same :func:`bulk_load` call.

    ``resident`` is the row index of the resident in the accompanying ResidentBatch.
    Dates are ``datetime64[D]``.
    """

    resident: npt.NDArray[np.int64]
    department: npt.NDArray[np.str_]
    metric: npt.NDArray[np.str_]
    value: npt.NDArray[np.float64]
    act_date: npt.NDArray[np.datetime64]
    decision_date: npt.NDArray[np.datetime64]
    source_ref: npt.NDArray[np.str_]
    incident_ref: npt.NDArray[np.object_] = field(default_factory=lambda: np.empty(0, dtype=object))
    severity: npt.NDArray[np.object_] = field(default_factory=lambda: np.empty(0, dtype=object))

    def __len__(self) -> int:
        return int(self.resident.shape[0])


@dataclass(frozen=True)
class BulkResult:
    """What one bulk load wrote."""

    residents: int
    records: int
    first_resident_id: int


def bulk_load(
    ledger: Ledger, people: ResidentBatch, batch: RecordBatch, *, actor: Actor, batch_id: str
) -> BulkResult:
    """Validate both batches completely, then write them in one transaction."""
    today = ledger.today()
    numbers = validate_many(people.national_id, today=today)
    _check_districts(people.district)
    _check_unique(numbers.tolist(), "national_id", "resident")
    departments, labels = _check_records(ledger, batch, len(people), today)
    names = ledger.pseudonyms_of_valid(numbers.tolist())
    birth_years = np.char.ljust(numbers, 18).astype("<U18").view(np.uint32).reshape(-1, 18)
    years = ((birth_years[:, 6:10] - ord("0")) * np.array([1000, 100, 10, 1])).sum(axis=1)
    now = ledger.now()
    with database_errors("bulk load"), ledger.engine.begin() as conn:
        dept_ids = ledger.department_ids(conn)
        missing = [label for label in labels if label not in dept_ids]
        if missing:
            raise RecordRefused(f"department {missing[0]!r} is not registered in the ledger")
        department_ids = np.array([dept_ids[label] for label in labels], dtype=np.int64)
        _refuse_registered(conn, names)
        ids = allocate_ids(conn, residents, len(people))
        record_ids = allocate_ids(conn, records, len(batch))
        stamp = _timestamp(conn, now)
        _write(
            conn,
            "residents",
            ("id", "pseudonym", "district", "birth_year", "registered_at"),
            [ids.tolist(), names, people.district.tolist(), years.tolist(), [stamp] * len(people)],
        )
        incident = batch.incident_ref.tolist() if len(batch.incident_ref) else [None] * len(batch)
        severity = batch.severity.tolist() if len(batch.severity) else [None] * len(batch)
        act = batch.act_date.astype("datetime64[D]").astype(str).tolist()
        decided = batch.decision_date.astype("datetime64[D]").astype(str).tolist()
        _write(
            conn,
            "records",
            (
                "id",
                "resident_id",
                "department_id",
                "metric",
                "value",
                "act_date",
                "decision_date",
                "recorded_at",
                "source_ref",
                "incident_ref",
                "kind",
                "batch_id",
                "severity",
            ),
            [
                record_ids.tolist(),
                ids[batch.resident].tolist(),
                department_ids[departments].tolist(),
                batch.metric.tolist(),
                batch.value.tolist(),
                act,
                decided,
                [stamp] * len(batch),
                batch.source_ref.tolist(),
                incident,
                ["original"] * len(batch),
                [batch_id] * len(batch),
                severity,
            ],
        )
        sealed_people = ClaimBuilder("residents")
        add_rows(
            sealed_people,
            ids,
            [("hex", names), ("text", people.district), ("int", years), ("", now)],
        )
        sealed_records = ClaimBuilder("records")
        name_column = np.array(names, dtype=object)
        add_rows(
            sealed_records,
            record_ids,
            [
                ("hex", name_column[batch.resident] if len(batch) else []),
                ("text", np.array(labels, dtype=object)[departments] if len(batch) else []),
                ("text", batch.metric),
                ("float", batch.value),
                ("date", act),
                ("date", decided),
                ("", now),
                ("text", batch.source_ref),
                ("text", incident),
                ("", "original"),
                ("", None),
                ("", None),
                ("", batch_id),
                ("text", severity),
            ],
        )
        append_entry(
            conn,
            actor=str(actor),
            action="ledger.bulk_load",
            purpose="bulk registration and records",
            detail={
                "batch_id": batch_id,
                "residents": len(people),
                "records": len(batch),
                "resident_ids": [int(ids[0]), int(ids[-1])] if len(ids) else [],
            },
            rows=[sealed_people.claim(), sealed_records.claim()],
        )
    return BulkResult(len(people), len(batch), int(ids[0]) if len(ids) else 0)


def _check_districts(district: npt.NDArray[np.str_]) -> None:
    lengths = np.char.str_len(district.astype(str))
    bad = np.flatnonzero((lengths == 0) | (lengths > 32))
    if bad.size:
        raise ValidationError(f"row {bad[0]}: district: expected 1 to 32 characters")


def _factorize(column: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int64], list[Any]]:
    """Integer codes of a column's values, and the distinct values in order of appearance."""
    labels: dict[Any, int] = {}
    values = column.tolist()
    codes = np.fromiter(
        (labels.setdefault(v, len(labels)) for v in values), dtype=np.int64, count=len(values)
    )
    return codes, list(labels)


def _check_unique(values: list[Any], name: str, what: str) -> None:
    if len(set(values)) == len(values):
        return
    seen: set[Any] = set()
    for row, value in enumerate(values):  # only on the failure path, to name the row
        if value in seen:
            raise RecordRefused(f"row {row}: {name}: the same {what} appears twice in this batch")
        seen.add(value)


def _check_records(
    ledger: Ledger, batch: RecordBatch, n_people: int, today: dt.date
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Validate every record column; return the department codes and their labels."""
    departments, labels = _factorize(batch.department)
    if len(batch) == 0:
        return departments, labels
    bad = np.flatnonzero((batch.resident < 0) | (batch.resident >= n_people))
    if bad.size:
        raise ValidationError(f"record row {bad[0]}: resident: no such row in this batch")
    act = batch.act_date.astype("datetime64[D]")
    decided = batch.decision_date.astype("datetime64[D]")
    limit = np.datetime64(today, "D")
    for rows, message in (
        (np.flatnonzero(np.isnat(act)), "act_date: missing or not a date"),
        (np.flatnonzero(np.isnat(decided)), "decision_date: missing or not a date"),
        (np.flatnonzero(act > limit), "act_date: in the future"),
        (np.flatnonzero(decided < act), "decision_date: before the act date"),
        (np.flatnonzero(decided > limit), "decision_date: in the future"),
    ):
        if rows.size:
            raise ValidationError(f"record row {rows[0]}: {message}")
    refs = batch.source_ref.tolist()
    _check_unique(
        list(zip(departments.tolist(), refs, strict=True)),
        "source_ref",
        "department source reference",
    )
    lengths = np.char.str_len(batch.source_ref.astype(str))
    bad = np.flatnonzero((lengths == 0) | (lengths > 128))
    if bad.size:
        raise ValidationError(f"record row {bad[0]}: source_ref: expected 1 to 128 characters")
    metrics, metric_labels = _factorize(batch.metric)
    effective = np.array([v.effective for v in ledger.policy.versions], dtype="datetime64[D]")
    version_index = np.searchsorted(effective, act, side="right") - 1
    if (version_index < 0).any():
        row = int(np.flatnonzero(version_index < 0)[0])
        raise RecordRefused(f"record row {row}: act_date: before the first policy version")
    pair = (version_index * len(labels) + departments) * len(metric_labels) + metrics
    _, first = np.unique(pair, return_index=True)
    for row in sorted(first.tolist()):  # once per (version, department, metric)
        version = ledger.policy.versions[int(version_index[row])]
        try:
            version.check_reporter(labels[departments[row]], metric_labels[metrics[row]])
        except RecordRefused as exc:
            raise RecordRefused(f"record row {row}: {exc}") from exc
    for code, name in enumerate(metric_labels):
        rows = np.flatnonzero(metrics == code)
        for index in np.unique(version_index[rows]).tolist():
            selected = rows[version_index[rows] == index]
            _check_values(ledger.policy.versions[index].metric(name), batch, selected)
    return departments, labels


def _check_values(metric: Metric, batch: RecordBatch, selected: npt.NDArray[np.intp]) -> None:
    """Values in range, severities known, acts within the life of the metric's rule.

    Each check runs on the whole column; the first failing row is then put through the
    metric's own single-record check, whose message the refusal carries.
    """
    severities = (
        batch.severity[selected]
        if len(batch.severity)
        else np.full(selected.shape[0], None, dtype=object)
    )
    allowed = [str(name) for name in metric.severity] if metric.severity else ["None"]
    _refuse_first(
        selected,
        ~np.isin(severities.astype(str), allowed),
        lambda row: metric.effect(1, severities[row]),
    )
    acts = batch.act_date[selected].astype("datetime64[D]")

    def day(row: int) -> dt.date:
        found: dt.date = acts[row].item()
        return found

    if metric.sunset is not None:
        _refuse_first(
            selected,
            acts > np.datetime64(metric.sunset, "D"),
            lambda row: metric.check_act_date(day(row)),
        )
    if metric.legal_basis is not None:
        _refuse_first(
            selected,
            acts < np.datetime64(metric.legal_basis.effective, "D"),
            lambda row: metric.check_act_date(day(row)),
        )
    values = batch.value[selected]
    high = float(metric.max_value) if metric.max_value is not None else np.inf
    wrong = (values < float(metric.min_value)) | (values > high) | ~np.isfinite(values)
    if metric.points is not None:
        wrong |= values != 1
    _refuse_first(selected, wrong, lambda row: metric.check_value(float(values[row])))


def _refuse_first(
    selected: npt.NDArray[np.intp], bad: npt.NDArray[np.bool_], check: Callable[[int], object]
) -> None:
    """Refuse the batch at the first ``bad`` row, with ``check``'s message for that row."""
    if not bad.any():
        return
    index = int(np.flatnonzero(bad)[0])
    row = int(selected[index])
    try:
        check(index)
    except RecordRefused as exc:
        raise RecordRefused(f"record row {row}: {exc}") from exc
    raise RecordRefused(f"record row {row}: value is not a number")


def _refuse_registered(conn: Connection, names: list[str]) -> None:
    """Refuse the batch at the first resident the ledger already holds, naming the row."""
    known: set[str] = set()
    for start in range(0, len(names), 5_000):
        chunk = names[start : start + 5_000]
        known.update(
            conn.execute(select(residents.c.pseudonym).where(residents.c.pseudonym.in_(chunk)))
            .scalars()
            .all()
        )
    if known:
        row = next(i for i, name in enumerate(names) if name in known)
        raise RecordRefused(f"row {row}: national_id: this resident is already registered")


def _timestamp(conn: Connection, now: dt.datetime) -> object:
    """``now`` as the driver stores it: SQLAlchemy's naive-UTC text on SQLite."""
    if conn.dialect.name == "sqlite":
        return now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return now


def _write(conn: Connection, table: str, columns: Sequence[str], data: list[list[Any]]) -> None:
    """Write columns of plain Python values: executemany on SQLite, COPY on PostgreSQL."""
    if not data or not data[0]:
        return
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in zip(*data, strict=True):
                copy.write_row(row)
        return
    placeholders = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
        list(zip(*data, strict=True)),
    )
