"""Erasure on the ledger (SQLite and PostgreSQL): a resident's link to everything the
ledger holds about them is erased through the one narrow path; the audit chain still
verifies; the person's data is gone from every table (a query over all tables finds
none of it); the database refuses every other change; an attacker who redacts or edits
outside the path is named by verify."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from tests.factories import OPERATOR, make_id, tamper

from osmanthus.core import Actor, NewRecord
from osmanthus.disputes import answer_dispute, file_dispute
from osmanthus.errors import AuditChainBroken, ValidationError
from osmanthus.ledger import Ledger, read_only, verify_ledger
from osmanthus.ledger.erasure import erase_resident, retire_records
from osmanthus.ledger.notices import set_contact
from osmanthus.notices.relay import relay_records
from osmanthus.residents.credentials import set_password

POLICE = Actor("department", "traffic-police")
REGISTRY = Actor("operator", "civil-registry")
BANK = Actor("provider", "bank")


def _person(ledger: Ledger, make_record: Callable[..., NewRecord], sequence: int) -> dict:
    number = make_id(sequence=sequence)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    refs = [f"SECRET-REF-{sequence}-{k}" for k in range(3)]
    ids = [
        ledger.append_record(
            make_record(
                national_id=number,
                act_date=dt.date(2026, 6, 1 + k),
                decision_date=dt.date(2026, 6, 1 + k),
                source_ref=ref,
                incident_ref=f"SECRET-INCIDENT-{sequence}-{k}",
            ),
            actor=OPERATOR,
        )
        for k, ref in enumerate(refs)
    ]
    ledger.correct_record(
        "traffic-police",
        refs[0],
        value=1.0,
        new_source_ref=f"SECRET-REF-{sequence}-c",
        reason=f"SECRET-REASON-{sequence}",
        actor=POLICE,
    )
    return {"number": number, "name": name, "ids": ids, "refs": refs}


def _rid(ledger: Ledger, pseudonym: str) -> int:
    with read_only(ledger.engine) as conn:
        return int(
            conn.execute(
                sa.text("SELECT id FROM residents WHERE pseudonym = :p"), {"p": pseudonym}
            ).scalar_one()
        )


def _everywhere(ledger: Ledger, needle: str) -> list[str]:
    """Every table and column in which ``needle`` occurs (a query over all tables)."""
    found = []
    with read_only(ledger.engine) as conn:
        inspector = sa.inspect(conn)
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                hit = conn.execute(
                    sa.text(
                        f'SELECT 1 FROM "{table}" WHERE CAST("{column["name"]}" AS TEXT) '
                        "LIKE :needle LIMIT 1"
                    ),
                    {"needle": f"%{needle}%"},
                ).first()
                if hit:
                    found.append(f"{table}.{column['name']}")
    return found


def test_erasure_leaves_nothing_of_the_person_and_the_chain_verifies(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    p = _person(ledger, make_record, 81)
    other = _person(ledger, make_record, 82)
    dispute = file_dispute(ledger, p["name"], p["ids"][1], f"SECRET-DISPUTE-{81} not me")
    answer_dispute(
        ledger,
        dispute.id,
        "reject",
        department="traffic-police",
        actor=POLICE,
        reason="the photo shows the car clearly",
    )
    set_password(ledger, p["number"], "a long enough password 81", actor=OPERATOR)
    set_contact(
        ledger.engine,
        p["name"],
        "secret.person81@example.org",
        "zh",
        actor=OPERATOR,
        now=ledger.now(),
    )
    relay_records(ledger)
    ledger.read_pseudonym(p["name"], actor=BANK, purpose="loan check")
    needles = [
        p["name"],
        "secret.person81@example.org",
        *p["refs"],
        "SECRET-INCIDENT-81",
        "SECRET-REASON-81",
        "SECRET-DISPUTE-81",
    ]
    assert all(_everywhere(ledger, n) for n in needles)  # there before

    resident_id = _rid(ledger, p["name"])
    done = erase_resident(ledger.engine, resident_id, actor=REGISTRY, purpose="death + 1 year")
    assert done.redacted > 0 and done.kept == 0
    for needle in needles:
        assert _everywhere(ledger, needle) == [], needle
    verify_ledger(ledger.engine)
    # the other resident is untouched and still scores
    assert _everywhere(ledger, other["name"])
    with pytest.raises(ValidationError, match="already erased"):
        erase_resident(ledger.engine, resident_id, actor=REGISTRY, purpose="again")


def test_an_open_dispute_blocks_erasure_and_nothing_is_written(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    p = _person(ledger, make_record, 83)
    file_dispute(ledger, p["name"], p["ids"][1], "I was not driving that day at all")
    with read_only(ledger.engine) as conn:
        before = conn.execute(sa.text("SELECT max(seq) FROM audit_log")).scalar()
    with pytest.raises(ValidationError, match=r"dispute \d+ is under way"):
        erase_resident(ledger.engine, _rid(ledger, p["name"]), actor=REGISTRY, purpose="left")
    with read_only(ledger.engine) as conn:
        assert conn.execute(sa.text("SELECT max(seq) FROM audit_log")).scalar() == before
    assert _everywhere(ledger, p["refs"][1])


def test_the_database_refuses_any_change_but_an_erasure(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    p = _person(ledger, make_record, 84)
    rid = _rid(ledger, p["name"])
    for statement in (
        "UPDATE records SET metric = 'running_red_light'",
        "UPDATE records SET source_ref = 'changed'",
        # an erased shape, but something else changed too: the metric
        "UPDATE records SET source_ref = 'erased-' || id, incident_ref = NULL, "
        "reason = NULL, metric = 'running_red_light'",
        "UPDATE residents SET district = 'wuzhong'",
        f"UPDATE residents SET pseudonym = 'erased-999', district = '', birth_year = 0 "
        f"WHERE id = {rid}",
        "UPDATE audit_log SET subject = NULL",
        "UPDATE audit_log SET purpose = 'nothing to see'",
        "DELETE FROM records",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(sa.exc.DatabaseError), ledger.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert _everywhere(ledger, p["refs"][2])


def test_edits_outside_the_erasure_path_are_named_by_verify(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    p = _person(ledger, make_record, 85)
    ledger.read_pseudonym(p["name"], actor=BANK, purpose="loan check")
    erase_resident(ledger.engine, _rid(ledger, p["name"]), actor=REGISTRY, purpose="left city")
    verify_ledger(ledger.engine)
    # an erased record changed afterwards
    tamper(ledger, f"UPDATE records SET value = 9 WHERE id = {p['ids'][2]}")
    with pytest.raises(AuditChainBroken, match=f"records row {p['ids'][2]}"):
        verify_ledger(ledger.engine)


def test_a_redaction_no_erasure_names_is_a_fault(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    p = _person(ledger, make_record, 86)
    entry = ledger.read_pseudonym(p["name"], actor=BANK, purpose="loan check")
    with read_only(ledger.engine) as conn:
        seq, salt, detail = conn.execute(
            sa.text("SELECT seq, salt, detail FROM audit_log WHERE subject = :s ORDER BY seq DESC"),
            {"s": p["name"]},
        ).first()
    from osmanthus.audit.chain import digest_of

    tamper(
        ledger,
        f"UPDATE audit_log SET subject = NULL, detail = '{{}}', salt = NULL, "
        f"subject_digest = '{digest_of(salt, p['name'])}', "
        f"detail_digest = '{digest_of(salt, detail)}' WHERE seq = {seq}",
    )
    assert entry is not None
    with pytest.raises(AuditChainBroken, match=f"audit entry {seq}: redacted, but no erasure"):
        verify_ledger(ledger.engine)


def test_records_past_retention_leave_the_resident(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock
) -> None:
    p = _person(ledger, make_record, 87)
    done = retire_records(
        ledger.engine, [p["ids"][2]], actor=REGISTRY, purpose="retention", now=clock.now
    )
    assert done.changed == {"records": 1} and done.redacted >= 1
    _, rows = ledger.read_pseudonym(p["name"], actor=OPERATOR, purpose="test")
    assert p["ids"][2] not in [r.id for r in rows]
    assert _everywhere(ledger, p["refs"][2]) == []
    assert _everywhere(ledger, p["refs"][1])  # the others stay
    verify_ledger(ledger.engine)


def test_a_row_an_erasure_deleted_cannot_come_back(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    p = _person(ledger, make_record, 88)
    set_password(ledger, p["number"], "a long enough password 88", actor=OPERATOR)
    rid = _rid(ledger, p["name"])
    with read_only(ledger.engine) as conn:
        stored = conn.execute(
            sa.text("SELECT password_hash, created_at FROM resident_credentials")
        ).first()
    erase_resident(ledger.engine, rid, actor=REGISTRY, purpose="left the city")
    verify_ledger(ledger.engine)
    tamper(
        ledger,
        "INSERT INTO resident_credentials (resident_id, password_hash, created_at) "
        f"VALUES ({rid}, '{stored.password_hash}', '{stored.created_at}')",
    )
    with pytest.raises(AuditChainBroken, match="present, though audit entry"):
        verify_ledger(ledger.engine)
