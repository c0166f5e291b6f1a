"""Submitting a batch: read, validate, write, and record the outcome, all or nothing.

The whole batch is one database transaction: its records, its corrections, the batch row
with its report and its audit entries commit together or not at all, so a process killed
at any moment leaves either the whole batch or none of it, and a batch whose outcome was
returned (acknowledged) is in the ledger for good.

By default a batch is committed only if every row is valid; otherwise nothing of it is
written and the outcome (``refused``) is stored with its report in a second transaction.
With ``partial=True`` the valid rows are committed and the others reported.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
from sqlalchemy import Connection

from osmanthus.audit import Claim
from osmanthus.errors import ProhibitedData, RecordRefused, ValidationError
from osmanthus.intake.outcome import Outcome, find_outcomes, store_outcome
from osmanthus.intake.readers import BatchFile, file_sha256, open_batch
from osmanthus.intake.validate import Problem, Validated, validate_batch
from osmanthus.intake.writer import ChunkWriter
from osmanthus.ledger import Actor, Ledger, append_entry, database_errors, durable_transaction

__all__ = ["Progress", "submit_batch"]

#: Called after each chunk with the rows read so far and the total, when known.
Progress = Callable[[int, int | None], None]
_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class _Refused(Exception):
    """Internal: the batch is refused as a whole (all-or-nothing with problems)."""

    def __init__(self, prohibited: dict[str, int]) -> None:
        super().__init__("batch refused")
        self.prohibited = prohibited


def submit_batch(
    ledger: Ledger,
    path: Path,
    *,
    department: str,
    actor: Actor,
    batch_id: str | None = None,
    partial: bool = False,
    file_format: str | None = None,
    progress: Progress | None = None,
    chunk_rows: int | None = None,
) -> Outcome:
    """Submit the batch file at ``path`` for ``department``; return its outcome.

    Raises :class:`ValidationError` (one line naming the file, and the row where there is
    one) for a file that cannot be read at all; row-level problems are in the outcome.
    """
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    sha = file_sha256(path)
    batch_id = batch_id or f"sha256-{sha[:16]}"
    if not _BATCH_ID.match(batch_id):
        raise ValidationError(
            f"batch id {batch_id!r}: expected 1 to 64 letters, digits or . _ : - "
            "(starting with a letter or digit)"
        )
    ledger.check_ready()
    version = ledger.policy.latest
    if department not in version.departments:
        raise RecordRefused(f"department {department!r} is not in policy {version.name}")
    stored = _stored_outcome(ledger, department, batch_id, sha)
    if isinstance(stored, Outcome):
        return stored
    earlier = stored
    for outcome in earlier:
        if outcome.committed:
            raise RecordRefused(
                f"batch id {batch_id!r} was already committed for another file "
                f"({outcome.file_name}, {outcome.finished_at:%Y-%m-%d %H:%M} UTC): "
                "use a new batch id"
            )
    outcome = Outcome(
        department=department,
        batch_id=batch_id,
        file_name=path.name,
        file_sha256=sha,
        format="",
        partial=partial,
        status="refused",
        rows=0,
        accepted=0,
        refused=0,
        flagged=0,
        received_at=ledger.now(),
        finished_at=ledger.now(),
    )
    try:
        opened = open_batch(path, file_format, **({"chunk_rows": chunk_rows} if chunk_rows else {}))
    except ProhibitedData as exc:
        outcome.problems = [Problem(0, exc.category[:32], exc.category[:64], str(exc))]
        _store_refused(ledger, outcome, actor, {exc.category: 1})
        raise
    outcome.format = opened.format
    try:
        with (
            database_errors("intake"),
            durable_transaction(ledger.engine, references_checked=True) as conn,
        ):
            _write_batch(ledger, conn, opened, outcome, actor, progress)
    except (_Refused, RecordRefused) as failed:
        # the same file submitted twice at once: the one that lost the race (its rows
        # collide with the winner's, or its commit with the winner's batch) answers with
        # the winner's stored outcome, as a repeat does
        won = _stored_outcome(ledger, department, batch_id, sha)
        if isinstance(won, Outcome):
            return won
        if not isinstance(failed, _Refused):
            raise
        _store_refused(ledger, outcome, actor, failed.prohibited)
    return outcome


def _stored_outcome(
    ledger: Ledger, department: str, batch_id: str, sha: str
) -> Outcome | list[Outcome]:
    """The stored outcome of this very file under this batch id (a repeat), or the
    outcomes stored under the batch id for other files."""
    with database_errors("intake"), ledger.engine.connect() as conn, conn.begin():
        earlier = find_outcomes(conn, department, batch_id)
    return next((o for o in earlier if o.file_sha256 == sha), earlier)


def _write_batch(
    ledger: Ledger,
    conn: Connection,
    opened: BatchFile,
    outcome: Outcome,
    actor: Actor,
    progress: Progress | None,
) -> None:
    """Read, check and write every chunk; commit (return) or roll back (raise _Refused)."""
    today = ledger.today()
    department_id = ledger.department_ids(conn).get(outcome.department)
    if department_id is None:
        raise RecordRefused(f"department {outcome.department!r} is not registered in the ledger")
    writer = ChunkWriter(
        conn,
        ledger,
        department=outcome.department,
        department_id=department_id,
        batch_id=outcome.batch_id,
        actor=actor,
        now=outcome.received_at,
    )
    prohibited: Counter[str] = Counter()
    try:
        chunks = _checked_chunks(ledger, opened, outcome.department, today)
        for chunk, checked, pseudonyms in chunks:
            found = writer.write(chunk, checked, pseudonyms)
            prohibited.update(checked.prohibited)
            outcome.problems.extend(checked.problems + found)
            outcome.rows += chunk.num_rows
            if progress is not None:
                progress(outcome.rows, opened.total_rows)
        outcome.problems.extend(writer.finish())
        writer.close()
    finally:
        writer.stop()  # a batch that failed half-way leaves no thread behind
    outcome.accepted = writer.accepted
    outcome.flagged = sum(1 for p in outcome.problems if p.level == "flagged")
    outcome.refused = outcome.rows - outcome.accepted
    outcome.problems.sort(key=lambda p: (p.row, p.field))
    outcome.metrics = {metric: n for metric, n in sorted(writer.metrics.items()) if n}
    outcome.finished_at = ledger.now()
    if outcome.refused and not outcome.partial:
        outcome.status, outcome.accepted, outcome.flagged = "refused", 0, 0
        outcome.metrics = {}
        raise _Refused(dict(prohibited))
    outcome.status = "partial" if outcome.refused else "committed"
    _record_outcome(conn, outcome, department_id, actor, dict(prohibited), writer.staged.claim())


Checked = tuple[pa.Table, Validated, pa.ChunkedArray]


def _checked_chunks(
    ledger: Ledger, opened: BatchFile, department: str, today: dt.date
) -> Iterator[Checked]:
    """Each chunk with its checks and pseudonyms, the next one prepared on a second thread
    while the database writes this one (Arrow, DuckDB and SQLite release the GIL)."""
    chunks = opened.chunks()
    first_row = 1

    def prepare() -> Checked | None:
        nonlocal first_row
        chunk = next(chunks, None)
        if chunk is None:
            return None
        checked = validate_batch(chunk, ledger.policy, department, today, first_row=first_row)
        first_row += chunk.num_rows
        assert checked.national_id is not None
        return chunk, checked, ledger.pseudonym_column(checked.national_id)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-read") as pool:
        pending = pool.submit(prepare)
        while (ready := pending.result()) is not None:
            pending = pool.submit(prepare)
            yield ready


def _audit_prohibited(
    conn: Connection, outcome: Outcome, actor: Actor, categories: dict[str, int]
) -> None:
    for category, rows in sorted(categories.items()):
        append_entry(
            conn,
            actor=str(actor),
            action="intake.refused_prohibited",
            purpose="prohibited data category refused at intake",
            detail={
                "department": outcome.department,
                "batch_id": outcome.batch_id,
                "category": category,
                "rows": rows,
            },
        )


def _store_refused(
    ledger: Ledger, outcome: Outcome, actor: Actor, categories: dict[str, int]
) -> None:
    """Store a refused batch's outcome and report, and audit it (nothing else is written)."""
    outcome.status, outcome.accepted, outcome.flagged = "refused", 0, 0
    outcome.refused = outcome.rows
    outcome.finished_at = ledger.now()
    with database_errors("intake"), durable_transaction(ledger.engine) as conn:
        department_id = ledger.department_ids(conn)[outcome.department]
        _record_outcome(conn, outcome, department_id, actor, categories)


def _record_outcome(
    conn: Connection,
    outcome: Outcome,
    department_id: int,
    actor: Actor,
    categories: dict[str, int],
    written: Claim | None = None,
) -> None:
    """Store the batch's outcome and report, and audit it (and any prohibited data): the
    entry claims the records written (``written``), the batch row and its report."""
    _audit_prohibited(conn, outcome, actor, categories)
    store_outcome(conn, outcome, department_id, str(actor), written)
