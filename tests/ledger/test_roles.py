"""The service's PostgreSQL role: everything the service does works, and the past cannot
be changed by it, not even by switching the guards off."""

from __future__ import annotations

import datetime as dt
import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from factories import OPERATOR, PG_URL, POLICY_DIR, TEST_KEY, FixedClock, approve_policy, make_id
from osmanthus.cli import app
from osmanthus.disputes import file_dispute
from osmanthus.intake import submit_batch
from osmanthus.ledger import Actor, Ledger, NewRecord, connect, verify_ledger
from osmanthus.ledger.audit_log import PendingEntry
from osmanthus.ledger.erasure import erase_resident
from osmanthus.ledger.pg_writer import PgChainWriter
from osmanthus.policy import load_policy
from osmanthus.population import export_ledger
from osmanthus.residents import set_password
from osmanthus.web import create_key, revoke_key

JUNE_1, JUNE_3 = dt.date(2026, 6, 1), dt.date(2026, 6, 3)


@pytest.fixture
def schema(_pg_admin: sa.Engine) -> Iterator[tuple[str, str, str]]:
    """A fresh schema, its owner's URL, and the service role's name (dropped after)."""
    name, role = f"t_{uuid.uuid4().hex[:12]}", f"osm_svc_{uuid.uuid4().hex[:8]}"
    with _pg_admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    try:
        yield name, f"{PG_URL}?options=-csearch_path%3D{name}", role
    finally:
        with _pg_admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))


def as_role(url: str, role: str) -> str:
    return url.replace("://postgres@", f"://{role}@", 1)


def test_the_service_role_adds_rows_and_cannot_change_the_past(
    schema: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, owner_url, role = schema
    monkeypatch.setenv("OSMANTHUS_DATABASE_URL", owner_url)
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.setenv("OSMANTHUS_POLICY_DIR", str(POLICY_DIR))
    made = CliRunner().invoke(app, ["init", "--service-role", role])
    assert made.exit_code == 0, made.output
    assert f"role {role} created and granted" in made.output
    again = CliRunner().invoke(app, ["init", "--service-role", role])  # idempotent
    assert again.exit_code == 0 and f"role {role} granted" in again.output

    service = as_role(owner_url, role)
    ledger = Ledger(connect(service), load_policy(POLICY_DIR), TEST_KEY, clock=FixedClock())
    try:
        ledger.check_ready()
        approve_policy(ledger, population_dir=tmp_path / "pop")  # governance, as the role
        number = make_id(sequence=7)
        ledger.register_resident(number, "gusu", actor=OPERATOR)
        ledger.append_record(
            NewRecord(number, "traffic-police", "failure_to_yield", JUNE_1, JUNE_3, "R-1"),
            actor=OPERATOR,
        )
        batch = tmp_path / "b.csv"
        batch.write_text(
            "national_id,metric,act_date,decision_date,source_ref,value\n"
            f"{number},failure_to_yield,2026-06-02,2026-06-03,CSV-1,1\n"
        )
        traffic = Actor("department", "traffic-police")
        outcome = submit_batch(ledger, batch, department="traffic-police", actor=traffic)
        assert outcome.status == "committed"
        revoke_key(ledger.engine, create_key(ledger.engine, role="auditor", name="a"))
        set_password(ledger, number, "a long password", actor=OPERATOR)
        file_dispute(ledger, ledger.pseudonym_of(number), 1, "this was not me, truly")
        export_ledger(ledger.engine, tmp_path / "lake", actor=OPERATOR)
        writer = PgChainWriter(ledger.engine)  # the web service's appends, as the role
        try:
            writer.commit([PendingEntry(str(OPERATOR), "test.entry", "the loop's append")])
        finally:
            writer.close()
        assert verify_ledger(ledger.engine).rows["records"] == 2

        for attack in (
            "UPDATE records SET value = 0",
            "DELETE FROM records",
            "TRUNCATE records CASCADE",
            "UPDATE audit_log SET purpose = 'x'",
            "DELETE FROM audit_log",
            "ALTER TABLE records DISABLE TRIGGER ALL",
            "DROP TRIGGER records_append_only ON records",
            "SET session_replication_role = replica",
            "CREATE TABLE records_copy (id int)",
            "DROP FUNCTION osmanthus_append_audit",  # nor replace how the chain is appended
        ):
            # DELETE on audit_log is granted for archiving: its row trigger refuses any
            # entry no archive covers
            refused = r"permission denied|must be owner|only an archived entry may be detached"
            with (
                pytest.raises(sa.exc.ProgrammingError, match=refused),
                ledger.engine.begin() as conn,
            ):
                conn.execute(sa.text(attack))
        # the erasure columns are granted, but only the erased shape passes the triggers
        with (
            pytest.raises(sa.exc.ProgrammingError, match="only an erasure may change a row"),
            ledger.engine.begin() as conn,
        ):
            conn.execute(sa.text("UPDATE records SET source_ref = 'forged'"))
        leaving = make_id(sequence=8)
        ledger.register_resident(leaving, "gusu", actor=OPERATOR)
        ledger.append_record(
            NewRecord(leaving, "traffic-police", "failure_to_yield", JUNE_1, JUNE_3, "R-8"),
            actor=OPERATOR,
        )
        with ledger.engine.connect() as conn:
            rid = conn.execute(
                sa.text("SELECT id FROM residents WHERE pseudonym = :p"),
                {"p": ledger.pseudonym_of(leaving)},
            ).scalar_one()
        erase_resident(ledger.engine, rid, actor=OPERATOR, purpose="left the city")
        verify_ledger(ledger.engine)
    finally:
        ledger.engine.dispose()


def test_a_service_role_is_refused_on_sqlite_and_for_odd_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSMANTHUS_DATABASE_URL", f"sqlite:///{tmp_path / 'l.db'}")
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.setenv("OSMANTHUS_POLICY_DIR", str(POLICY_DIR))
    found = CliRunner().invoke(app, ["init", "--service-role", "svc"])
    assert found.exit_code == 1 and "PostgreSQL only" in found.output


def test_the_service_role_archives_a_month_and_erases_through_it(
    schema: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Archiving (DELETE of archived entries only) and an erasure that reaches the
    archive work as the service role; a DELETE of a live entry is still refused."""
    import osmanthus.ledger.audit_log as audit_log_module
    from factories import write_key

    _, owner_url, role = schema
    for name, value in {
        "OSMANTHUS_DATABASE_URL": owner_url,
        "OSMANTHUS_PSEUDONYM_KEY": TEST_KEY.decode(),
        "OSMANTHUS_POLICY_DIR": str(POLICY_DIR),
        "OSMANTHUS_SIGNING_KEY_FILE": str(write_key(tmp_path / "signing.pem")),
        "OSMANTHUS_AUDIT_ARCHIVE_DIR": str(tmp_path / "archive"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OSMANTHUS_DEMO_MODE", raising=False)
    monkeypatch.setattr(audit_log_module, "_now", lambda: "2026-09-10T10:00:00.000000+00:00")
    assert CliRunner().invoke(app, ["init", "--service-role", role]).exit_code == 0
    service = as_role(owner_url, role)
    ledger = Ledger(connect(service), load_policy(POLICY_DIR), TEST_KEY, clock=FixedClock())
    try:
        approve_policy(ledger, population_dir=tmp_path / "pop")
        number = make_id(sequence=5)
        ledger.register_resident(number, "gusu", actor=OPERATOR)
        ledger.read_resident(number, actor=OPERATOR, purpose="operator look-up")
        monkeypatch.undo()  # from here on, today
        monkeypatch.setenv("OSMANTHUS_DATABASE_URL", service)
        for name, value in {
            "OSMANTHUS_PSEUDONYM_KEY": TEST_KEY.decode(),
            "OSMANTHUS_SIGNING_KEY_FILE": str(tmp_path / "signing.pem"),
            "OSMANTHUS_AUDIT_ARCHIVE_DIR": str(tmp_path / "archive"),
        }.items():
            monkeypatch.setenv(name, value)
        archived = CliRunner().invoke(app, ["audit", "archive", "--through", "2026-09"])
        assert archived.exit_code == 0 and "archived 2026-09" in archived.output, archived.output
        erased = CliRunner().invoke(
            app, ["retention", "erase", number, "--ground", "PIPL Art. 47, request granted"]
        )
        assert erased.exit_code == 0, erased.output
        name = ledger.pseudonym_of(number)
        with gzip.open(tmp_path / "archive" / "audit-2026-09.jsonl.gz", "rt") as lines:
            assert not [line for line in lines if name in line]  # redacted in the file too
        verified = CliRunner().invoke(
            app, ["audit", "verify", "--archive", str(tmp_path / "archive")]
        )
        assert verified.exit_code == 0, verified.output
        with (
            pytest.raises(sa.exc.ProgrammingError, match="only an archived entry"),
            ledger.engine.begin() as conn,
        ):
            conn.execute(sa.text("DELETE FROM audit_log"))
    finally:
        ledger.engine.dispose()
