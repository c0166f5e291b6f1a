"""Group commit of read entries (SQLite and PostgreSQL): many threads reading at once each
get their answer only after their own entry is committed, and the chain stays whole."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from factories import OPERATOR, make_id
from osmanthus.errors import LedgerError
from osmanthus.ledger import Actor, Ledger, verify_chain


def reads(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM audit_log WHERE action = 'resident.read'")
            ).scalar_one()
        )


def test_concurrent_reads_are_each_committed_and_chained(ledger: Ledger) -> None:
    people = [make_id(sequence=n) for n in range(1, 6)]
    for number in people:
        ledger.register_resident(number, "gusu", actor=OPERATOR)
    before = verify_chain(ledger.engine).count
    ledger.start_service()
    try:

        def read(n: int) -> int:
            resident, _ = ledger.read_pseudonym(
                ledger.pseudonym_of(people[n % 5]),
                actor=Actor("provider", f"bank-{n % 3}"),
                purpose=f"check {n}",
            )
            return resident.id

        with ThreadPoolExecutor(max_workers=16) as pool:
            found = list(pool.map(read, range(200)))
    finally:
        ledger.stop_service()
    assert len(found) == 200
    assert reads(ledger) == 200
    assert verify_chain(ledger.engine).count == before + 200


def test_a_failed_audit_write_fails_the_read(ledger: Ledger) -> None:
    number = make_id(sequence=7)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    ledger.start_service()
    try:
        with ledger.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_log RENAME TO audit_log_gone"))
        with pytest.raises(LedgerError):
            ledger.read_resident(number, actor=OPERATOR, purpose="must not leak")
    finally:
        ledger.stop_service()
