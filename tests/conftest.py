"""Shared fixtures: a real database per test (SQLite file or PostgreSQL schema) and factories.

Tests that take ``db_url`` run twice: on a SQLite file in ``tmp_path`` and on a fresh
schema of the real PostgreSQL server (``OSMANTHUS_TEST_PG_URL``, default the local
``test`` database). PostgreSQL being unreachable is a failure, not a skip.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
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

# The tests' Java processes (Spark in local mode, the test cluster's master and workers)
# live for seconds: the client compiler alone and the serial collector cost them a third
# less CPU than the server compiler's warm-up and the parallel collector (Spark parity
# and suspension tests: 83 -> 53 CPU-s). Test-only; a city's run keeps Java's defaults.
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


#: the test files that take longest (seconds of a whole run on 2 cores, --durations),
#: handed to the workers first (``python3 dev.py test`` keeps this order): each file runs
#: on one worker, and a long file started last keeps one worker busy alone at the end
LONGEST_FIRST = [
    "tests/population/test_parity.py",  # 155
    "tests/population/test_spark_cluster.py",  # 90
    "tests/population/test_incremental.py",  # 85
    "tests/intake/test_crash.py",  # 55
    "tests/test_cli.py",  # 50
    "tests/ledger/test_archive.py",  # 45
    "tests/web/test_serve.py",  # 35
    "tests/test_tooling.py",  # 35
    "tests/web/test_browser_due_process.py",  # 30
    "tests/web/test_openapi.py",  # 30
    "tests/governance/test_governance.py",
    "tests/population/test_runs.py",
    "tests/web/test_portal.py",
    "tests/web/test_browser.py",
    "tests/ledger/test_row_tamper.py",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gone = [path for path in LONGEST_FIRST if not (config.rootpath / path).is_file()]
    if gone:
        raise pytest.UsageError(f"tests/conftest.py: LONGEST_FIRST names no file {gone[0]}")
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


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


def schema_url(schema: str) -> str:
    """The URL of the test server's ``schema`` (as its search path)."""
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


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
        yield schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture(scope="session")
def _sqlite_migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once by the real migrations; each test's ledger starts as
    a copy of it (migrating costs 0.16 s a test, a copy a millisecond)."""
    path = tmp_path_factory.mktemp("migrated") / "ledger.db"
    engine = connect(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_migrated(_pg_admin: sa.Engine) -> Iterator[str]:
    """The SQL of a PostgreSQL schema migrated once by the real migrations (pg_dump's
    plain text, the schema's name in it as ``_TEMPLATE``); each test's ledger schema is
    made by running it (0.2 s a test instead of 0.6)."""
    schema = f"osm_template_{uuid.uuid4().hex[:12]}"
    with _pg_admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        engine = connect(schema_url(schema))
        migrate(engine)
        engine.dispose()
        libpq = sa.make_url(PG_URL).set(drivername="postgresql").render_as_string(False)
        dump = subprocess.run(
            ["pg_dump", "--schema", schema, "--inserts", "--no-owner", libpq],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        with _pg_admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    # psql's own commands (\restrict) are not SQL; the schema exists already per test
    lines = [line for line in dump.splitlines() if not line.startswith("\\")]
    yield "\n".join(lines).replace(f"CREATE SCHEMA {schema};", "").replace(schema, _TEMPLATE)


_TEMPLATE = "osm_template_schema"


def _fill_migrated(request: pytest.FixtureRequest, db_url: str) -> bool:
    """Make the empty database of ``db_url`` a copy of one migrated by the migrations;
    False when it is not empty (the test made something there: migrate it as it is)."""
    url = sa.make_url(db_url)
    if url.get_backend_name() == "sqlite":
        target = Path(str(url.database))
        if target.exists():
            return False
        shutil.copyfile(request.getfixturevalue("_sqlite_migrated"), target)
        return True
    schema = url.query["options"].split("search_path=", 1)[1]
    sql = request.getfixturevalue("_pg_migrated").replace(_TEMPLATE, schema)
    engine = sa.create_engine(PG_URL, poolclass=sa.pool.NullPool)  # the dump sets its path
    try:
        with engine.begin() as conn:
            tables = conn.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            ).scalar_one()
            if tables:
                return False
            conn.connection.cursor().execute(sql)  # no parameters: one round trip
    finally:
        engine.dispose()
    return True


@pytest.fixture
def make_ledger(
    db_url: str, policy: PolicySet, clock: FixedClock, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Ledger]]:
    """Factory of a migrated ledger with the example policy's departments registered."""
    engines: list[sa.Engine] = []

    def factory(policy_set: PolicySet | None = None) -> Ledger:
        filled = not engines and _fill_migrated(request, db_url)
        engine = connect(db_url)
        engines.append(engine)
        if not filled:
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
