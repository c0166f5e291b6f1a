"""Group commit of read entries (SQLite and PostgreSQL): many threads reading at once each
get their answer only after their own entry is committed, and the chain stays whole."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from factories import OPERATOR, make_id
from osmanthus.errors import LedgerError
from osmanthus.ledger import Actor, Ledger, verify_chain
from osmanthus.ledger.audit_log import PendingEntry
from osmanthus.ledger.sqlite_writer import SqliteChainWriter
from osmanthus.ledger.upkeep import Upkeep


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


def test_reads_on_the_event_loop_are_committed_in_groups_and_chained(ledger: Ledger) -> None:
    people = [make_id(sequence=n) for n in range(1, 6)]
    for number in people:
        ledger.register_resident(number, "gusu", actor=OPERATOR)
    before = verify_chain(ledger.engine).count

    async def main() -> list[int]:
        async def read(n: int) -> int:
            _, _, committed = ledger.read_on_loop(
                ledger.pseudonym_of(people[n % 5]),
                actor=Actor("provider", "bank"),
                purpose=f"check {n}",
            )
            entry = await committed
            with ledger.engine.connect() as conn:  # on record before the answer
                stored = conn.execute(
                    sa.text("SELECT purpose FROM audit_log WHERE seq = :seq"), {"seq": entry.seq}
                ).scalar_one()
            assert stored == f"check {n}"
            return entry.seq

        return await asyncio.gather(*(read(n) for n in range(120)))

    ledger.start_service()
    try:
        seqs = asyncio.run(main())
    finally:
        ledger.stop_service()
    assert len(set(seqs)) == 120
    assert reads(ledger) == 120
    assert verify_chain(ledger.engine).count == before + 120


def test_a_failed_audit_write_fails_the_read_on_the_loop(ledger: Ledger) -> None:
    number = make_id(sequence=8)
    ledger.register_resident(number, "gusu", actor=OPERATOR)

    async def main() -> None:
        _, _, committed = ledger.read_on_loop(
            ledger.pseudonym_of(number), actor=OPERATOR, purpose="must not leak"
        )
        await committed

    ledger.start_service()
    try:
        with ledger.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_log RENAME TO audit_log_gone"))
        with pytest.raises(LedgerError):
            asyncio.run(main())
    finally:
        ledger.stop_service()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_checkpoint_lets_the_write_ahead_log_start_again(ledger: Ledger) -> None:
    writer, upkeep = SqliteChainWriter(ledger.engine), Upkeep(ledger.engine)
    wal = Path(f"{ledger.engine.url.database}-wal")
    ledger.engine.dispose()  # no other connection checkpoints here
    entries = [PendingEntry("provider:bank", "resident.read", "wal", f"s{n}") for n in range(800)]
    try:
        writer.commit(entries)
        grown = wal.stat().st_size
        upkeep.checkpoint(restart_frames=0)
        writer.commit(entries)
        # copied back wholly, so the second group reused the log from its beginning
        assert wal.stat().st_size <= grown * 1.1
    finally:
        writer.close()
        upkeep.stop()
    assert verify_chain(ledger.engine).count >= 1600


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # PostgreSQL's own writer
def test_the_loops_postgresql_writer_chains_waits_briefly_and_survives_a_lost_connection(
    ledger: Ledger,
) -> None:
    """PostgreSQL: groups committed in two round trips on a kept connection. Another
    transaction appending (holding the chain's lock past the writer's short wait) makes
    it hand the group back with nothing written; a connection killed by the server costs
    one group, not the next."""
    from osmanthus.ledger.audit_log import PG_CHAIN_LOCK, ChainBusy
    from osmanthus.ledger.pg_writer import PgChainWriter

    def entries(n: int) -> list[PendingEntry]:
        return [PendingEntry(str(OPERATOR), "test.entry", f"entry {i}") for i in range(n)]

    before = verify_chain(ledger.engine).count
    writer = PgChainWriter(ledger.engine)
    try:
        stored = writer.commit(entries(3))
        assert [e.seq for e in stored] == [before + 1, before + 2, before + 3]
        with ledger.engine.begin() as other:
            other.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_CHAIN_LOCK})
            with pytest.raises(ChainBusy):
                writer.commit(entries(2))
        assert verify_chain(ledger.engine).count == before + 3  # nothing of the busy group
        pid = writer._connection().info.backend_pid
        with ledger.engine.begin() as admin:  # the server drops the writer's connection
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(LedgerError):
            writer.commit(entries(1))
        assert [e.seq for e in writer.commit(entries(2))] == [before + 4, before + 5]
    finally:
        writer.close()
    assert verify_chain(ledger.engine).count == before + 5
