"""Fixtures of the web tests: the app on a real ledger (SQLite and PostgreSQL), residents
with records, a key for every staff role, and signed-in browser-like sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from factories import OPERATOR
from osmanthus.ledger import Ledger, NewRecord
from osmanthus.residents import set_password
from osmanthus.settings import get_settings
from osmanthus.web import create_app, create_key
from web_fixtures import ALICE, BOB, PASSWORD


@pytest.fixture
def client(ledger: Ledger, tmp_path: Path) -> Iterator[TestClient]:
    settings = get_settings(demo_mode=True, data_dir=tmp_path)
    with TestClient(create_app(settings, ledger)) as test_client:
        yield test_client


@pytest.fixture
def people(ledger: Ledger, make_record: Callable[..., NewRecord]) -> dict[str, int]:
    """Alice (no records, at the baseline) and Bob (drunk driving: 100 - 30 points);
    both have portal passwords. Returns the id of Bob's record."""
    ledger.register_resident(ALICE, "gusu", actor=OPERATOR)
    ledger.register_resident(BOB, "gusu", actor=OPERATOR)
    day = ledger.today() - dt.timedelta(days=30)
    bob_record = ledger.append_record(
        make_record(national_id=BOB, metric="drunk_driving", act_date=day, decision_date=day),
        actor=OPERATOR,
    )
    set_password(ledger, ALICE, PASSWORD, actor=OPERATOR)
    set_password(ledger, BOB, PASSWORD, actor=OPERATOR)
    return {"bob_record": bob_record}


@pytest.fixture
def keys(ledger: Ledger) -> dict[str, str]:
    """One API key per staff role (the department key speaks for traffic-police)."""
    return {
        "department": create_key(
            ledger.engine, role="department", name="traffic", department="traffic-police"
        ),
        "provider": create_key(ledger.engine, role="provider", name="Bank of Suzhou"),
        "operator": create_key(ledger.engine, role="operator", name="credit office"),
        "auditor": create_key(ledger.engine, role="auditor", name="legal office"),
    }
