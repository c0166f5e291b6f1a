"""Attacks on the ledger's rows by someone holding the database, on SQLite and
PostgreSQL: each is found by verification, which names the table and the row."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from factories import OPERATOR, PERKS, TEST_KEY, make_id, tamper
from osmanthus.cli import app
from osmanthus.disputes import file_dispute
from osmanthus.errors import AuditChainBroken
from osmanthus.intake import submit_batch
from osmanthus.ledger import (
    Actor,
    Ledger,
    NewRecord,
    RecordBatch,
    ResidentBatch,
    RowsTampered,
    bulk_load,
    verify_ledger,
)
from osmanthus.ledger.notices import set_contact
from osmanthus.residents import set_password
from osmanthus.web import create_key, revoke_key

TRAFFIC = Actor("department", "traffic-police")
BULK = 2_500  # more than two groups of 1,024 rows


def populated(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> dict[str, int]:
    """A ledger with every kind of sealed row; returns some row ids to attack."""
    n = 60
    people = ResidentBatch(
        national_id=np.array([make_id(sequence=i, area=320505) for i in range(1, n + 1)]),
        district=np.array(["gusu"] * n),
    )
    batch = RecordBatch(
        resident=np.arange(BULK, dtype=np.int64) % n,
        department=np.array(["traffic-police"] * BULK),
        metric=np.array(["failure_to_yield"] * BULK),
        value=np.ones(BULK),
        act_date=np.array(["2026-06-01"] * BULK, dtype="datetime64[D]"),
        decision_date=np.array(["2026-06-02"] * BULK, dtype="datetime64[D]"),
        source_ref=np.array([f"BULK-{i}" for i in range(BULK)]),
    )
    bulk_load(ledger, people, batch, actor=OPERATOR, batch_id="bulk-1")
    alice = make_id(sequence=1)
    ledger.register_resident(alice, "gusu", actor=OPERATOR)
    single = ledger.append_record(make_record(national_id=alice, source_ref="ONE"), actor=OPERATOR)
    corrected = ledger.correct_record(
        "traffic-police", "ONE", value=1.0, new_source_ref="ONE-c", reason="typo", actor=OPERATOR
    )
    lines = ["national_id,metric,act_date,decision_date,source_ref,value,incident_ref"]
    lines += [
        f'{alice},failure_to_yield,2026-06-0{i},2026-06-09,CSV-{i},1,INC "{i}"' for i in range(1, 6)
    ]
    lines.append(f"{make_id(sequence=999)},failure_to_yield,2026-06-01,2026-06-09,CSV-X,1,")
    path = tmp_path / "batch.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcome = submit_batch(
        ledger, path, department="traffic-police", actor=TRAFFIC, batch_id="csv-1", partial=True
    )
    assert outcome.accepted == 5
    key = create_key(ledger.engine, role="provider", name="bank", actor=OPERATOR, perks=PERKS)
    create_key(ledger.engine, role="auditor", name="auditor", actor=OPERATOR)
    revoke_key(ledger.engine, key, actor=OPERATOR)
    set_password(ledger, alice, "correct horse battery", actor=OPERATOR)
    dispute = file_dispute(ledger, ledger.pseudonym_of(alice), corrected, "this was not me at all")
    set_contact(
        ledger.engine,
        ledger.pseudonym_of(alice),
        "alice@example.org",
        "en",
        actor=OPERATOR,
        now=ledger.now(),
    )
    verify_ledger(ledger.engine)  # untouched, everything verifies
    return {"single": single, "dispute": dispute.id}


@pytest.fixture
def attacked(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> tuple[Ledger, dict[str, int]]:
    return ledger, populated(ledger, make_record, tmp_path)


def found(ledger: Ledger) -> RowsTampered:
    with pytest.raises(RowsTampered) as info:
        verify_ledger(ledger.engine)
    return info.value


@pytest.mark.parametrize(
    "change",
    [
        "value = 0",
        "metric = 'running_red_light'",
        "act_date = '2025-01-01'",
        "department_id = 2",
        "resident_id = 1",
    ],
)
def test_an_edited_single_record_is_named(attacked, change: str) -> None:  # type: ignore[no-untyped-def]
    ledger, ids = attacked
    tamper(ledger, f"UPDATE records SET {change} WHERE id = {ids['single']}")
    error = found(ledger)
    assert (error.table, error.row) == ("records", ids["single"])
    assert f"records row {ids['single']}: changed after audit entry" in str(error)


def test_an_edited_bulk_record_names_its_group_of_rows(attacked) -> None:  # type: ignore[no-untyped-def]
    ledger, _ = attacked
    tamper(ledger, "UPDATE records SET value = 5 WHERE source_ref = 'BULK-1500'")
    error = found(ledger)
    assert error.table == "records"
    assert "records rows 1025–2048 (one or more of them): changed after audit entry" in str(error)
    assert "ledger.bulk_load" in str(error)


def test_a_deleted_record_is_named(attacked) -> None:  # type: ignore[no-untyped-def]
    ledger, _ = attacked
    with ledger.engine.connect() as conn:
        target = conn.execute(
            sa.text("SELECT id FROM records WHERE source_ref = 'CSV-3'")
        ).scalar_one()
    tamper(ledger, f"DELETE FROM records WHERE id = {target}")
    error = found(ledger)
    assert (error.table, error.row) == ("records", target)
    assert "missing (written by audit entry" in str(error) and "intake.batch" in str(error)


def test_all_records_of_a_resident_deleted(attacked) -> None:  # type: ignore[no-untyped-def]
    ledger, _ = attacked
    tamper(ledger, "DELETE FROM records WHERE resident_id = 2")
    assert found(ledger).table == "records"


def test_a_forged_record_inserted_by_sql_is_named(attacked) -> None:  # type: ignore[no-untyped-def]
    ledger, _ = attacked
    tamper(
        ledger,
        "INSERT INTO records (id, resident_id, department_id, metric, value, act_date, "
        "decision_date, recorded_at, source_ref, kind) VALUES (900000, 1, 1, 'loan_default', 1, "
        "'2026-01-01', '2026-01-02', '2026-01-02 00:00:00', 'FORGED', 'original')",
    )
    error = found(ledger)
    assert (error.table, error.row) == ("records", 900000)
    assert "written by no audit entry" in str(error)


def test_two_records_swapped_are_found(attacked) -> None:  # type: ignore[no-untyped-def]
    """Reordering: two rows trade places (every column but the id)."""
    ledger, _ = attacked
    tamper(
        ledger,
        "UPDATE records SET source_ref = 'tmp', resident_id = 5 WHERE id = 3",
        "UPDATE records SET source_ref = 'BULK-2', resident_id = 3 WHERE id = 4",
        "UPDATE records SET source_ref = 'BULK-3' WHERE id = 3",
    )
    error = found(ledger)
    assert error.table == "records" and "rows 1–1024" in str(error)


@pytest.mark.parametrize(
    ("table", "statement"),
    [
        ("residents", "UPDATE residents SET district = 'wuzhong' WHERE id = 3"),
        ("departments", "UPDATE departments SET name = 'Someone else' WHERE id = 1"),
        ("api_keys", "UPDATE api_keys SET revoked_at = NULL"),
        ("api_keys", "UPDATE api_keys SET role = 'operator' WHERE name = 'auditor'"),
        ("resident_credentials", "UPDATE resident_credentials SET password_hash = 'x'"),
        ("disputes", "UPDATE disputes SET status = 'upheld'"),
        ("dispute_events", "UPDATE dispute_events SET reason = 'forged'"),
        ("notices", "DELETE FROM notices"),
        ("resident_contacts", "UPDATE resident_contacts SET email = 'thief@example.org'"),
        ("batches", "UPDATE batches SET accepted = 0"),
        ("batch_problems", "DELETE FROM batch_problems"),
    ],
)
def test_every_sealed_table_is_guarded(attacked, table: str, statement: str) -> None:  # type: ignore[no-untyped-def]
    ledger, _ = attacked
    tamper(ledger, statement)
    assert found(ledger).table == table


def test_an_audit_entry_edited_or_the_tail_rehashed_is_found(attacked) -> None:  # type: ignore[no-untyped-def]
    ledger, _ = attacked
    with ledger.engine.connect() as conn:
        last = conn.execute(sa.text("SELECT max(seq) FROM audit_log")).scalar_one()
    tamper(ledger, f"UPDATE audit_log SET actor = 'operator:nobody' WHERE seq = {last - 1}")
    with pytest.raises(AuditChainBroken, match=f"audit entry {last - 1}: content does not match"):
        verify_ledger(ledger.engine)


def test_a_rewritten_and_rehashed_tail_fails_the_published_checkpoint(attacked) -> None:  # type: ignore[no-untyped-def]
    """Whoever rewrites the tail and re-hashes it has a consistent chain; only a head
    published before (a checkpoint) shows it."""
    from osmanthus.audit import entry_hash

    ledger, _ = attacked
    with ledger.engine.connect() as conn:
        rows = [
            dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq"))
        ]
    published = (rows[-3]["seq"], rows[-3]["hash"])
    rows[-3]["purpose"] = "rewritten"
    prev = rows[-4]["hash"]
    statements = []
    for row in rows[-3:]:
        row["prev_hash"] = prev
        row["hash"] = prev = entry_hash(prev, row)
        statements.append(
            f"UPDATE audit_log SET purpose = '{row['purpose']}', prev_hash = '{row['prev_hash']}', "
            f"hash = '{row['hash']}' WHERE seq = {row['seq']}"
        )
    tamper(ledger, *statements)
    verify_ledger(ledger.engine, rows=False)  # consistent on its own
    with pytest.raises(AuditChainBroken, match=f"audit entry {published[0]}: its hash"):
        verify_ledger(ledger.engine, anchor=published)


def test_the_database_itself_refuses_update_and_delete(attacked) -> None:  # type: ignore[no-untyped-def]
    ledger, ids = attacked
    for statement in (
        f"UPDATE records SET value = 0 WHERE id = {ids['single']}",
        f"DELETE FROM records WHERE id = {ids['single']}",
        "UPDATE residents SET district = 'x'",
        "DELETE FROM audit_log WHERE seq = 1",
        "UPDATE audit_log SET purpose = 'x'",
        "DELETE FROM batch_problems",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(sa.text(statement))
    if ledger.engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE records CASCADE"))
    verify_ledger(ledger.engine)


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("UPDATE records SET value = 0 WHERE source_ref = 'ONE'", "error: records row"),
        ("DELETE FROM records WHERE source_ref = 'CSV-2'", "error: records row"),
        ("UPDATE audit_log SET purpose = 'x' WHERE seq = 3", "error: audit entry 3:"),
    ],
)
def test_cli_verify_names_the_row_in_one_line(
    attacked,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    statement: str,
    named: str,  # type: ignore[no-untyped-def]
) -> None:
    ledger, _ = attacked
    monkeypatch.setenv("OSMANTHUS_DATABASE_URL", db_url)
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "ledger rows verified against the chain: departments" in ok.output
    tamper(ledger, statement)
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert broken.output.startswith(named), broken.output
    assert len(broken.output.strip().splitlines()) == 1
