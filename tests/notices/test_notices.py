"""Notices on the ledger (SQLite and PostgreSQL): every dispute step tells the resident,
in the same transaction as the step, with an outbox row when they gave an address; the
relay tells of new negative records once, with an expiry notice held until the day; the
texts render in Chinese and English."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from tests.factories import OPERATOR, FixedClock, make_id, table_count

from osmanthus.core import Actor, NewRecord
from osmanthus.disputes import answer_dispute, file_dispute
from osmanthus.i18n import Catalogues
from osmanthus.ledger import (
    Ledger,
    deliveries_of,
    notices_of,
    set_contact,
    verify_ledger,
)
from osmanthus.notices import relay_records, render, skip_records
from osmanthus.policy.names import Names

POLICE = Actor("department", "traffic-police")


def _resident(ledger: Ledger, sequence: int, email: str | None) -> tuple[str, str]:
    number = make_id(sequence=sequence)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    if email:
        set_contact(ledger.engine, name, email, "en", actor=OPERATOR, now=ledger.now())
    return number, name


def test_each_dispute_step_is_a_notice_with_an_outbox_row_when_there_is_an_address(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number, name = _resident(ledger, 51, "wang.fang@example.org")
    record = ledger.append_record(make_record(national_id=number), actor=OPERATOR)
    filed = file_dispute(ledger, name, record, "I was not driving that day at all")
    answer_dispute(
        ledger,
        filed.id,
        "reject",
        department="traffic-police",
        actor=POLICE,
        reason="the camera shows your plate clearly",
    )
    found = notices_of(ledger.engine, name, ledger.today())
    assert [n.kind for n in found] == ["dispute.rejected", "dispute.filed"]
    assert found[0].payload["reason"] == "the camera shows your plate clearly"
    assert found[0].payload["due"] == "2026-11-16"  # the appeal deadline
    outbox = deliveries_of(ledger.engine, name)
    assert [(d.notice.kind, d.address, d.status) for d in outbox] == [
        ("dispute.filed", "wang.fang@example.org", "pending"),
        ("dispute.rejected", "wang.fang@example.org", "pending"),
    ]
    catalogues = Catalogues()
    version = ledger.policy.latest
    english = render(found[0], catalogues.get("en").ugettext, Names.of(version, "en"))
    assert english.subject == f"Your dispute of record {record} was rejected"
    assert "You may appeal to the independent reviewer by 2026-11-16." in english.lines
    chinese = render(found[0], catalogues.get("zh").ugettext, Names.of(version, "zh"))
    assert str(record) in chinese.subject and "驳回" in chinese.subject
    verify_ledger(ledger.engine)


def test_a_resident_without_an_address_gets_the_inbox_only(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number, name = _resident(ledger, 52, None)
    record = ledger.append_record(make_record(national_id=number), actor=OPERATOR)
    file_dispute(ledger, name, record, "this record is about someone else")
    assert [n.kind for n in notices_of(ledger.engine, name, ledger.today())] == ["dispute.filed"]
    assert deliveries_of(ledger.engine, name) == []


def test_the_relay_tells_of_each_new_negative_record_once(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    number, name = _resident(ledger, 53, "li.lei@example.org")
    old = ledger.append_record(make_record(national_id=number, source_ref="OLD"), actor=OPERATOR)
    skip_records(ledger)  # history: not news
    bad = ledger.append_record(make_record(national_id=number, source_ref="NEW"), actor=OPERATOR)
    good = ledger.append_record(
        make_record(
            national_id=number,
            department="volunteer-registry",
            metric="volunteer_hours",
            value=4,
            source_ref="VOL",
        ),
        actor=OPERATOR,
    )
    assert relay_records(ledger) == 2  # the new record, and its expiry (held)
    assert relay_records(ledger) == 0  # nothing new: nothing written
    shown = notices_of(ledger.engine, name, ledger.today())
    assert [(n.kind, n.payload["record"]) for n in shown] == [("record.new", bad)]
    assert shown[0].payload["points"] == -3 and shown[0].payload["expires"] == "2027-06-01"
    assert old not in [n.payload.get("record") for n in shown] and good != bad
    held = notices_of(ledger.engine, name, dt.date(2027, 6, 1))
    assert [n.kind for n in held] == ["record.expired", "record.new"]
    ledger.retract_record(
        "traffic-police", "NEW", new_source_ref="NEW-R", reason="wrong plate", actor=OPERATOR
    )
    assert [n.kind for n in notices_of(ledger.engine, name, dt.date(2027, 6, 1))] == [
        "record.new"
    ]  # a record retracted does not expire
    assert table_count(ledger, "notice_deliveries") == 2
    verify_ledger(ledger.engine)


def test_records_stored_before_notices_existed_are_not_news(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    from alembic import command

    from osmanthus.ledger.database import _alembic_config

    number, _ = _resident(ledger, 54, None)
    with ledger.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0010")
    with ledger.engine.begin() as conn:  # a record written by a ledger of schema 0010
        conn.exec_driver_sql(
            "INSERT INTO records (resident_id, department_id, metric, value, act_date, "
            "decision_date, recorded_at, source_ref, kind) SELECT r.id, d.id, "
            "'failure_to_yield', 1, '2026-10-01', '2026-10-01', '2026-10-02 09:00:00', "
            "'OLD-1', 'original' FROM residents r, departments d "
            "WHERE d.code = 'traffic-police'"
        )
    with ledger.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    assert relay_records(ledger) == 0  # history: no notice of it
    ledger.append_record(make_record(national_id=number, source_ref="NEW-1"), actor=OPERATOR)
    assert relay_records(ledger) == 2
