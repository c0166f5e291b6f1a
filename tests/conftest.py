"""Shared fixtures: a real database per test (SQLite file or PostgreSQL schema) and factories.

Tests that take ``db_url`` run twice: on a SQLite file in ``tmp_path`` and on a fresh
schema of the real PostgreSQL server (``OSMANTHUS_TEST_PG_URL``, default the local
``test`` database). PostgreSQL being unreachable is a failure, not a skip.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import settings

from factories import OPERATOR, PG_URL, POLICY_DIR, TEST_KEY, FixedClock, make_id
from osmanthus.ledger import Ledger, NewRecord, connect, migrate
from osmanthus.policy import PolicySet, load_policy

# CI runs the property tests on a fixed sequence of examples (derandomize), so that a run
# is reproducible; developers' runs explore new examples each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def policy() -> PolicySet:
    return load_policy(POLICY_DIR)


@pytest.fixture(scope="session")
def _pg_admin() -> Iterator[sa.Engine]:
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL}: {exc.orig}. The suite runs on SQLite "
            "and PostgreSQL; start PostgreSQL (python3 dev.py test does) and run again.",
            pytrace=False,
        )
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of each kind, owned by this test alone."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    admin: sa.Engine = request.getfixturevalue("_pg_admin")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def make_ledger(
    db_url: str, policy: PolicySet, clock: FixedClock
) -> Iterator[Callable[..., Ledger]]:
    """Factory of a migrated ledger with the example policy's departments registered."""
    engines: list[sa.Engine] = []

    def factory(policy_set: PolicySet | None = None) -> Ledger:
        engine = connect(db_url)
        engines.append(engine)
        migrate(engine)
        ledger = Ledger(engine, policy_set or policy, TEST_KEY, clock=clock)
        ledger.sync_departments(OPERATOR)
        return ledger

    yield factory
    for engine in engines:
        engine.dispose()


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    return make_ledger()


@pytest.fixture
def make_record() -> Callable[..., NewRecord]:
    """Factory of a valid record; override any field."""
    counter = iter(range(1, 1_000_000))

    def factory(**overrides: Any) -> NewRecord:
        fields: dict[str, Any] = {
            "national_id": make_id(),
            "department": "traffic-police",
            "metric": "failure_to_yield",
            "act_date": dt.date(2026, 6, 1),
            "decision_date": dt.date(2026, 6, 3),
            "source_ref": f"REF-{next(counter):06d}",
            "value": 1.0,
        }
        fields.update(overrides)
        return NewRecord(**fields)

    return factory
