"""The delivery worker against a real SMTP server (aiosmtpd): each notice sent once with
its idempotency key, in the resident's language; temporary refusals retried with a
doubling wait, permanent ones failed, an unreachable server retried; an expiry notice
of a retracted record withdrawn. And a worker killed mid-delivery: after a restart every
notice reaches the server exactly once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.factories import OPERATOR, TEST_KEY, FixedClock, approve_policy, make_id

from osmanthus.core import Actor, NewRecord
from osmanthus.disputes import answer_dispute, file_dispute
from osmanthus.i18n import Catalogues
from osmanthus.ledger import Ledger, deliveries_of, set_contact
from osmanthus.notices import Mailer, deliver_due, relay_records, skip_records
from smtp_server import free_port, smtp_server

POLICE = Actor("department", "traffic-police")
CATALOGUES = Catalogues()


def _subject(message: object) -> str:
    return " ".join(str(message["Subject"]).split())  # type: ignore[index]  (unfolded)


def _disputed(
    ledger: Ledger, make_record: Callable[..., NewRecord], n: int, language: str = "en"
) -> str:
    number = make_id(sequence=60 + n)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    set_contact(
        ledger.engine, name, f"resident{n}@example.org", language, actor=OPERATOR, now=ledger.now()
    )
    record = ledger.append_record(
        make_record(national_id=number, source_ref=f"D-{n}"), actor=OPERATOR
    )
    file_dispute(ledger, name, record, "this record is about somebody else")
    return name


def test_each_notice_is_sent_once_in_the_residents_language(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    english = _disputed(ledger, make_record, 1, "en")
    chinese = _disputed(ledger, make_record, 2, "zh")
    with smtp_server() as (port, box):
        mailer = Mailer("127.0.0.1", port, sender="notices@city.example")
        report = deliver_due(ledger, mailer, catalogues=CATALOGUES)
        assert (report.sent, report.retried, report.failed) == (2, 0, 0)
        assert deliver_due(ledger, mailer, catalogues=CATALOGUES).sent == 0  # nothing twice
        assert len(box.messages) == 2
        by_to = {str(m["To"]): m for m in box.messages}
    first = by_to["resident1@example.org"]
    assert _subject(first).startswith("Your dispute of record")
    assert first["Message-ID"].startswith("<notice-") and first["Message-ID"].endswith(
        "@city.example>"
    )
    assert "已收到您对记录" in _subject(by_to["resident2@example.org"])
    assert {d.status for d in deliveries_of(ledger.engine, english)} == {"sent"}
    assert {d.status for d in deliveries_of(ledger.engine, chinese)} == {"sent"}


def test_refusals_are_retried_or_failed_and_an_unreachable_server_is_retried(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    name = _disputed(ledger, make_record, 3)
    nowhere = Mailer("127.0.0.1", free_port(), timeout=2)
    report = deliver_due(ledger, nowhere, catalogues=CATALOGUES)
    assert report.retried == 1
    (row,) = deliveries_of(ledger.engine, name)
    assert (row.attempts, row.next_attempt_at) == (1, clock.now + dt.timedelta(minutes=1))
    assert "connect" in (row.last_error or "")
    with smtp_server() as (port, box):
        mailer = Mailer("127.0.0.1", port)
        assert deliver_due(ledger, mailer, catalogues=CATALOGUES).sent == 0  # not due yet
        clock.advance(minutes=1)
        box.refuse = "450 mailbox busy, try later"
        assert deliver_due(ledger, mailer, catalogues=CATALOGUES).retried == 1
        (row,) = deliveries_of(ledger.engine, name)
        assert row.next_attempt_at == clock.now + dt.timedelta(minutes=2)  # doubled
        clock.advance(minutes=2)
        box.refuse = "550 no such mailbox"
        assert deliver_due(ledger, mailer, catalogues=CATALOGUES).failed == 1
        clock.advance(days=2)
        assert deliver_due(ledger, mailer, catalogues=CATALOGUES).failed == 0
        assert box.messages == []
    (row,) = deliveries_of(ledger.engine, name)
    assert (row.status, row.attempts) == ("failed", 3)


def test_an_expiry_notice_of_a_retracted_record_is_withdrawn(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    number = make_id(sequence=70)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    set_contact(ledger.engine, name, "x@example.org", "en", actor=OPERATOR, now=ledger.now())
    skip_records(ledger)
    ledger.append_record(make_record(national_id=number, source_ref="E-1"), actor=OPERATOR)
    assert relay_records(ledger) == 2
    with smtp_server() as (port, box):
        mailer = Mailer("127.0.0.1", port)
        assert deliver_due(ledger, mailer, catalogues=CATALOGUES).sent == 1  # the new record
        ledger.retract_record(
            "traffic-police", "E-1", new_source_ref="E-1-R", reason="wrong person", actor=OPERATOR
        )
        clock.now = dt.datetime(2027, 6, 2, 9, tzinfo=dt.UTC)  # past its expiry
        report = deliver_due(ledger, mailer, catalogues=CATALOGUES)
        assert (report.sent, report.withdrawn) == (0, 1)
        assert [_subject(m) for m in box.messages] == [
            "A new record: Failure to yield to pedestrians at a crosswalk, -3 points"
        ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_worker_killed_mid_delivery_delivers_each_notice_exactly_once_after_restart(
    make_ledger: Callable[..., Ledger],
    make_record: Callable[..., NewRecord],
    db_url: str,
    tmp_path: Path,
) -> None:
    ledger = make_ledger()
    approve_policy(ledger, population_dir=tmp_path / "pop")  # the CLI scores with it
    names = [_disputed(ledger, make_record, 10 + n) for n in range(6)]
    police = [d.notice.payload["dispute"] for n in names for d in deliveries_of(ledger.engine, n)]
    for dispute in police[:3]:  # more events after filing: two notices for some
        answer_dispute(
            ledger,
            dispute,
            "reject",
            department="traffic-police",
            actor=POLICE,
            reason="the footage shows this vehicle",
        )
    skip_records(ledger)  # only the dispute notices are under test here
    expected = {d.notice.id for n in names for d in deliveries_of(ledger.engine, n)}
    assert len(expected) == 9
    with smtp_server() as (port, box):
        box.stall = threading.Event()
        env = {
            **os.environ,
            "OSMANTHUS_DATABASE_URL": db_url,
            "OSMANTHUS_PSEUDONYM_KEY": TEST_KEY.decode(),
            "OSMANTHUS_SMTP_HOST": "127.0.0.1",
            "OSMANTHUS_SMTP_PORT": str(port),
            "OSMANTHUS_TIMEZONE": "UTC",
        }
        command = [sys.executable, "-m", "osmanthus", "notices", "deliver", "--loop"]
        worker = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while box.stalled == 0 and time.monotonic() < deadline:  # mid-delivery: in RCPT
            time.sleep(0.05)
        assert box.stalled == 1
        alive = worker.poll() is None
        worker.send_signal(signal.SIGKILL)
        _, errors = worker.communicate(timeout=30)
        assert alive, errors
        box.stall.set()  # the server answers again; the killed worker is gone
        assert box.messages == []
        again = subprocess.run(
            [sys.executable, "-m", "osmanthus", "notices", "deliver", "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == 0, again.stderr
        ids = box.ids()
    assert len(ids) == len(set(ids)) == len(expected)
    assert {int(i.split("-")[1].split(".")[0]) for i in ids} == expected
    assert {d.status for n in names for d in deliveries_of(ledger.engine, n)} == {"sent"}
