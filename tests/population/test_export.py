"""The lake export: incremental by watermark, complete, refusing a lake of another ledger,
and on PostgreSQL never skipping a row whose transaction commits late (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from factories import OPERATOR, FixedClock, make_id, table_count
from osmanthus.errors import LedgerError
from osmanthus.ledger import (
    Ledger,
    NewRecord,
    RecordBatch,
    ResidentBatch,
    bulk,
    bulk_load,
    connect,
    enter_write,
    migrate,
)
from osmanthus.policy import PolicySet
from osmanthus.population import Lake, LakeError, export_ledger
from osmanthus.population import export as export_module
from osmanthus.population.lake import TABLES


def lake_ids(path: Path, table: str) -> list[int]:
    lake = Lake.open(path)
    files = [str(p) for p in lake.paths(table)]
    if not files:
        return []
    return sorted(
        pq.read_table(files, schema=TABLES[table], columns=["id"], partitioning=None)[
            "id"
        ].to_pylist()
    )


def ledger_ids(ledger: Ledger, table: str) -> list[int]:
    with ledger.engine.connect() as conn:
        return sorted(conn.execute(sa.text(f"SELECT id FROM {table}")).scalars())


def test_each_export_adds_exactly_the_new_rows(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    for n in range(1, 6):
        ledger.register_resident(make_id(sequence=n), "gusu", actor=OPERATOR)
        ledger.append_record(make_record(national_id=make_id(sequence=n)), actor=OPERATOR)
    first = export_ledger(ledger.engine, lake, actor=OPERATOR, buckets=4)
    assert first.rows == {"records": 5, "residents": 5, "profile_facts": 0, "suspensions": 0}
    clock.advance(days=1)
    ledger.register_resident(make_id(sequence=6), "huqiu", actor=OPERATOR)
    ledger.append_record(
        make_record(national_id=make_id(sequence=6), source_ref="X-1"), actor=OPERATOR
    )
    ledger.retract_record(
        "traffic-police", "X-1", new_source_ref="X-1-R", reason="wrong person", actor=OPERATOR
    )
    with ledger.engine.begin() as conn:  # the example policy declares no profile data
        conn.execute(
            sa.text(
                "INSERT INTO profile_facts (resident_id, attribute, value, department_id, "
                "source_ref, recorded_at) SELECT max(r.id), 'resident_since', :since, "
                "min(d.id), 'P-1', :now FROM residents r, departments d"
            ),
            {"since": dt.date(2010, 1, 1), "now": clock.now.replace(tzinfo=None)},
        )
    second = export_ledger(ledger.engine, lake, actor=OPERATOR, buckets=64)
    assert second.rows == {"records": 2, "residents": 1, "profile_facts": 1, "suspensions": 0}
    assert export_ledger(ledger.engine, lake, actor=OPERATOR).total == 0
    for table in TABLES:
        assert lake_ids(lake, table) == ledger_ids(ledger, table)
    opened = Lake.open(lake)
    assert opened.buckets == 4  # a lake keeps the layout it was created with
    for bucket in range(4):
        for path in opened.paths("records", bucket):
            residents = pq.read_table(path, partitioning=None)["resident_id"].to_pylist()
            assert all(r % 4 == bucket for r in residents)
    retraction = pq.read_table(
        [str(p) for p in opened.paths("records")], partitioning=None
    ).to_pylist()
    assert any(row["kind"] == "retraction" and row["supersedes_id"] for row in retraction)
    assert table_count(ledger, "audit_log") > 0


def test_a_part_without_a_manifest_is_ignored_and_written_again(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    export_ledger(ledger.engine, lake, actor=OPERATOR, buckets=2)
    ledger.append_record(make_record(), actor=OPERATOR)
    # an export that died after writing its part and before its manifest
    stray = lake / "records" / "bucket=001" / "part-000002.parquet"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"half a file")
    assert lake_ids(lake, "records") == []
    export_ledger(ledger.engine, lake, actor=OPERATOR)
    assert lake_ids(lake, "records") == ledger_ids(ledger, "records")


def test_a_lake_of_another_ledger_is_refused(
    ledger: Ledger, policy: PolicySet, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    export_ledger(ledger.engine, lake, actor=OPERATOR)
    engine = connect(f"sqlite:///{tmp_path / 'other.db'}")  # another ledger
    migrate(engine)
    other = Ledger(engine, policy, b"k" * 32)
    other.sync_departments(OPERATOR)
    with pytest.raises(LakeError, match="exported from another ledger"):
        export_ledger(other.engine, lake, actor=OPERATOR)
    engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_export_waits_for_a_writer_in_flight(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path, db_url: str
) -> None:
    """A row whose id was taken before the export began but committed after it must not
    fall below the watermark unexported: the export waits for the writer."""
    # PostgreSQL only: on SQLite one writer at a time makes ids final when read
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    lake = tmp_path / "lake"
    writer = ledger.engine.connect()
    transaction = writer.begin()
    enter_write(writer)  # as every ledger transaction writing these tables does
    writer.execute(
        sa.text(
            "INSERT INTO records (resident_id, department_id, metric, value, act_date, "
            "decision_date, recorded_at, source_ref, kind) SELECT r.id, d.id, "
            "'failure_to_yield', 1, DATE '2026-06-01', DATE '2026-06-02', now(), 'LATE-1', "
            "'original' FROM residents r, departments d WHERE d.code = 'traffic-police'"
        )
    )
    ledger.append_record(make_record(), actor=OPERATOR)  # a higher id, committed first
    done: list[object] = []
    thread = threading.Thread(
        target=lambda: done.append(export_ledger(ledger.engine, lake, actor=OPERATOR))
    )
    thread.start()
    time.sleep(1.0)
    assert not done, "the export did not wait for the writing transaction"
    transaction.commit()
    writer.close()
    thread.join(timeout=60)
    assert done
    assert lake_ids(lake, "records") == ledger_ids(ledger, "records")
    assert len(lake_ids(lake, "records")) == 2


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_export_waits_for_a_bulk_load_holding_resident_ids(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    """bulk_load takes its resident ids from the sequence before it writes the rows. An
    export starting in between must wait for it: otherwise a resident registered
    meanwhile (a higher id, committed first) sets the watermark, and the bulk load's
    residents commit below it, never to be exported."""
    took_ids, go_on = threading.Event(), threading.Event()
    write = bulk._write

    def write_when_told(conn: sa.Connection, table: str, *args: Any) -> None:
        if table == "residents":  # the ids are taken; the rows not yet written
            took_ids.set()
            go_on.wait(60)
        write(conn, table, *args)

    monkeypatch.setattr(bulk, "_write", write_when_told)
    people = ResidentBatch(
        national_id=np.array([make_id(sequence=1), make_id(sequence=2)]),
        district=np.array(["gusu", "gusu"]),
    )
    batch = RecordBatch(
        resident=np.array([0, 1], dtype=np.int64),
        department=np.array(["traffic-police"] * 2),
        metric=np.array(["failure_to_yield"] * 2),
        value=np.ones(2),
        act_date=np.array(["2026-06-01"] * 2, dtype="datetime64[D]"),
        decision_date=np.array(["2026-06-02"] * 2, dtype="datetime64[D]"),
        source_ref=np.array(["B-1", "B-2"]),
    )
    lake = tmp_path / "lake"
    done: list[object] = []
    loader = threading.Thread(
        target=lambda: done.append(bulk_load(ledger, people, batch, actor=OPERATOR, batch_id="b"))
    )
    exporter = threading.Thread(
        target=lambda: done.append(export_ledger(ledger.engine, lake, actor=OPERATOR))
    )
    loader.start()
    try:
        assert took_ids.wait(60)
        ledger.register_resident(make_id(sequence=3), "huqiu", actor=OPERATOR)
        exporter.start()
        time.sleep(1.0)
        assert not done, "the export did not wait for the bulk load"
    finally:
        go_on.set()
        loader.join(60)
        if exporter.ident is not None:  # started
            exporter.join(60)
    assert len(done) == 2
    assert lake_ids(lake, "residents") == ledger_ids(ledger, "residents")
    assert len(lake_ids(lake, "residents")) == 3
    assert lake_ids(lake, "records") == ledger_ids(ledger, "records")


def test_two_exports_at_once_add_every_row_exactly_once(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> None:
    """Two exports into one lake at the same time (two commands, or a run and an
    export): the second waits for the first, then starts from the first one's manifest.
    Here the first stops halfway (its records part written, its residents not yet) while
    the ledger grows and the second export is started."""
    lake = tmp_path / "lake"

    def add(n: int) -> None:
        ledger.register_resident(make_id(sequence=n), "gusu", actor=OPERATOR)
        ledger.append_record(make_record(national_id=make_id(sequence=n)), actor=OPERATOR)

    for n in (1, 2, 3):
        add(n)
    export_ledger(ledger.engine, lake, actor=OPERATOR, buckets=1)
    add(4)
    paused, second_done = threading.Event(), threading.Event()
    chunks: list[int] = []
    overlapped: list[bool] = []

    def pause_halfway(rows: int) -> None:
        chunks.append(rows)
        if len(chunks) == 2:  # the residents' first chunk: the records part is written
            paused.set()
            overlapped.append(second_done.wait(2.0))

    errors: list[BaseException] = []

    def export(done: threading.Event | None = None, **options: Any) -> None:
        try:
            export_ledger(ledger.engine, lake, actor=OPERATOR, **options)
        except BaseException as exc:  # reported below, not as a thread's warning
            errors.append(exc)
        finally:
            if done is not None:
                done.set()

    first = threading.Thread(target=export, kwargs={"progress": pause_halfway})
    first.start()
    assert paused.wait(60)
    add(5)
    second = threading.Thread(target=export, args=(second_done,))
    second.start()
    first.join(60)
    second.join(60)
    assert not errors
    export_ledger(ledger.engine, lake, actor=OPERATOR)  # whatever is left
    for table in ("records", "residents"):
        assert lake_ids(lake, table) == ledger_ids(ledger, table)  # no row twice, none lost
    assert overlapped == [False], "the second export did not wait for the first"


def test_an_export_the_audit_log_refuses_is_not_published(
    ledger: Ledger,
    make_record: Callable[..., NewRecord],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The export's audit entry is written before its manifest: an export whose entry
    cannot be written stays invisible, and the next one exports its rows."""
    lake = tmp_path / "lake"
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    export_ledger(ledger.engine, lake, actor=OPERATOR)
    ledger.append_record(make_record(), actor=OPERATOR)

    def refuse(*args: object, **kwargs: object) -> None:
        raise LedgerError("audit log: database error: disk full")

    monkeypatch.setattr(export_module, "append_entry", refuse)
    with pytest.raises(LedgerError, match="disk full"):
        export_ledger(ledger.engine, lake, actor=OPERATOR)
    assert lake_ids(lake, "records") == []
    monkeypatch.undo()
    assert export_ledger(ledger.engine, lake, actor=OPERATOR).rows["records"] == 1
    assert lake_ids(lake, "records") == ledger_ids(ledger, "records")


def test_the_manifest_names_only_files_already_on_disk(
    ledger: Ledger, tmp_path: Path, disk_events: list[tuple[str, Path]]
) -> None:
    """Every part file and the folders naming it are synced before the manifest is
    replaced, and the lake's folder after it."""
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    lake = (tmp_path / "lake").resolve()
    export_ledger(ledger.engine, lake, actor=OPERATOR, buckets=2)
    published = disk_events.index(("replace", lake / "manifest.json"))
    before = {path for _, path in disk_events[:published]}
    for name in Lake.open(lake).files["residents"]:
        part = lake / name
        assert {part, part.parent, part.parent.parent, lake} <= before, name
    assert ("sync", lake) in disk_events[published:]
