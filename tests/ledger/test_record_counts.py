"""``record_counts`` (SQLite and PostgreSQL) equals a count of the ledger's original records
by department and metric after every way of writing records: the bulk load, a single
append, an intake batch, a correction and a retraction (not originals), a batch refused
whole. Writers of the same department and metric do not wait for each other; folding
keeps the sums; the migration counts the records already stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from factories import OPERATOR, make_id
from osmanthus.intake import submit_batch
from osmanthus.intake.coverage import coverage
from osmanthus.ledger import Actor, Ledger, NewRecord
from osmanthus.ledger.database import _alembic_config, read_only
from osmanthus.ledger.record_counts import fold_counts, record_counts_by_pair
from osmanthus.ledger.schema import record_counts, records
from osmanthus.ledger.upkeep import Upkeep

TRAFFIC = Actor("department", "traffic-police")


def kept(ledger: Ledger) -> dict[tuple[int, str], int]:
    with read_only(ledger.engine) as conn:
        return record_counts_by_pair(conn)


def counted(ledger: Ledger) -> dict[tuple[int, str], int]:
    """The reference: the whole ledger counted."""
    query = (
        sa.select(records.c.department_id, records.c.metric, sa.func.count())
        .where(records.c.kind == "original")
        .group_by(records.c.department_id, records.c.metric)
    )
    with read_only(ledger.engine) as conn:
        return {(d, m): n for d, m, n in conn.execute(query).all()}


def rows_kept(ledger: Ledger) -> int:
    with read_only(ledger.engine) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(record_counts)).scalar())


def batch_file(path: Path, lines: list[str]) -> Path:
    header = "national_id,metric,act_date,decision_date,source_ref,value"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_counts_follow_every_way_of_writing_records(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> None:
    from osmanthus.synthetic import CitySpec, load_city

    load_city(ledger, CitySpec(residents=300, as_of=ledger.today()))  # the bulk path
    assert kept(ledger) == counted(ledger) != {}

    number = make_id(sequence=1)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    day = ledger.today() - dt.timedelta(days=5)
    ledger.append_record(
        make_record(national_id=number, act_date=day, decision_date=day, source_ref="ONE"),
        actor=OPERATOR,
    )
    line = f"{number},running_red_light,{day},{day},{{ref}},1"
    good = batch_file(tmp_path / "good.csv", [line.format(ref="B-1"), line.format(ref="B-2")])
    assert submit_batch(ledger, good, department="traffic-police", actor=TRAFFIC).accepted == 2
    bad = batch_file(tmp_path / "bad.csv", [line.format(ref="B-3"), "nonsense,,,,,"])
    assert submit_batch(ledger, bad, department="traffic-police", actor=TRAFFIC).accepted == 0
    before = kept(ledger)
    ledger.correct_record(
        "traffic-police", "B-1", value=1, new_source_ref="B-1c", reason="typo", actor=TRAFFIC
    )
    ledger.retract_record(
        "traffic-police", "B-2", new_source_ref="B-2r", reason="wrong person", actor=TRAFFIC
    )
    assert kept(ledger) == before  # corrections and retractions are not originals
    assert kept(ledger) == counted(ledger)

    fold_counts(ledger.engine)
    assert kept(ledger) == counted(ledger)
    assert rows_kept(ledger) == len(counted(ledger))  # one row a pair once folded

    traffic = next(c for c in coverage(ledger) if c.code == "traffic-police")
    assert traffic.reported["running_red_light"] == sum(
        n for (_, m), n in counted(ledger).items() if m == "running_red_light"
    )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_writers_of_the_same_metric_do_not_wait_for_each_other(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    """Two transactions append records of the same department and metric; the first stays
    open while the second commits (a lock wait would fail at the lock timeout), and a
    fold in between leaves the open one's count alone."""
    numbers = [make_id(sequence=n) for n in (1, 2)]
    for number in numbers:
        ledger.register_resident(number, "gusu", actor=OPERATOR)
    with ledger.engine.connect() as first, ledger.engine.connect() as second:
        open_one = first.begin()
        first.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
        first.execute(_insert_one(ledger, numbers[0], "FIRST"))
        with second.begin():
            second.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
            second.execute(_insert_one(ledger, numbers[1], "SECOND"))
        assert fold_counts(ledger.engine) == 0  # sees only the second's row: nothing yet
        open_one.commit()
    assert kept(ledger) == counted(ledger)
    upkeep = Upkeep(ledger.engine)  # what the web service runs every minute
    try:
        assert upkeep.fold_now() == 1  # the pair's two rows, the first's and the second's
    finally:
        upkeep.stop()
    assert kept(ledger) == counted(ledger)
    assert rows_kept(ledger) == 1


def _insert_one(ledger: Ledger, number: str, ref: str) -> sa.Insert:
    """A raw insert of one original record (what any writing path ends in)."""
    resident = (
        sa.select(sa.text("id")).select_from(sa.text("residents")).where(sa.text("pseudonym = :p"))
    )
    department = (
        sa.select(sa.text("id"))
        .select_from(sa.text("departments"))
        .where(sa.text("code = 'traffic-police'"))
    )
    now = dt.datetime.now(dt.UTC)
    return sa.insert(records).values(
        resident_id=resident.params(p=ledger.pseudonym_of(number)).scalar_subquery(),
        department_id=department.scalar_subquery(),
        metric="running_red_light",
        value=1,
        act_date=dt.date(2026, 6, 1),
        decision_date=dt.date(2026, 6, 2),
        recorded_at=now,
        source_ref=ref,
        kind="original",
    )


def test_the_migration_counts_the_records_already_stored(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number = make_id(sequence=2)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    ledger.append_record(make_record(national_id=number, source_ref="OLD-1"), actor=OPERATOR)
    with ledger.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0006")
    with ledger.engine.begin() as conn:  # a record written by a ledger of schema 0006
        conn.exec_driver_sql(
            "INSERT INTO records (resident_id, department_id, metric, value, act_date, "
            "decision_date, recorded_at, source_ref, kind) SELECT r.id, d.id, "
            "'failure_to_yield', 1, '2026-10-01', '2026-10-01', '2026-10-02 09:00:00', "
            "'OLD-2', 'original' FROM residents r, departments d "
            "WHERE d.code = 'traffic-police'"
        )
    with ledger.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    assert kept(ledger) == counted(ledger) != {}
    ledger.append_record(make_record(national_id=number, source_ref="NEW-1"), actor=OPERATOR)
    assert kept(ledger) == counted(ledger)  # and the trigger is back
