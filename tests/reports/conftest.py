"""Fixtures of the signed-document tests: a fresh city key in a PEM file, another key
that is not the city's, and a small ledger of residents with records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from reports_fixtures import ALICE, BOB, CAROL

from factories import OPERATOR, write_key
from osmanthus.ledger import Ledger, NewRecord
from osmanthus.reports import SigningKey, read_signing_key


@pytest.fixture
def city_key(tmp_path: Path) -> SigningKey:
    return read_signing_key(write_key(tmp_path / "city-key.pem"))


@pytest.fixture
def other_key(tmp_path: Path) -> SigningKey:
    return read_signing_key(write_key(tmp_path / "other-key.pem"))


@pytest.fixture
def people(ledger: Ledger, make_record: Callable[..., NewRecord]) -> Ledger:
    for number in (ALICE, BOB, CAROL):
        ledger.register_resident(number, "gusu", actor=OPERATOR)
    day = ledger.today() - dt.timedelta(days=30)
    ledger.append_record(
        make_record(national_id=BOB, metric="drunk_driving", act_date=day, decision_date=day),
        actor=OPERATOR,
    )
    ledger.append_record(
        make_record(
            national_id=CAROL,
            department="civil-affairs",
            metric="good_samaritan_commendation",
            act_date=day,
            decision_date=day,
        ),
        actor=OPERATOR,
    )
    return ledger
