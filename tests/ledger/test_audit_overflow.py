"""The audit overflow (SQLite): a read's entry is committed beside the ledger while another
writer holds the database's one write lock, chained on as the newest entries, and moved
into the ledger, in order and once, by the next writer. Every test drives the real
service paths on a real database file; the lock is held by a real second connection."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from factories import OPERATOR, make_id
from osmanthus.errors import AuditChainBroken, LedgerError
from osmanthus.ledger import Actor, Ledger, read_only, verify_ledger
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.audit_overflow import Overflow
from osmanthus.ledger.erasure import erase_resident

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # SQLite's lock

BANK = Actor("provider", "bank")


def database(ledger: Ledger) -> str:
    return str(ledger.engine.url.database)


def waiting(ledger: Ledger) -> list[int]:
    """The numbers of the entries in the overflow file (read as a stranger would)."""
    overflow = Overflow(database(ledger))
    try:
        return [int(e["seq"]) for e in overflow.entries_after(0)]
    finally:
        overflow.close()


def logged(ledger: Ledger) -> list[tuple[int, str, str]]:
    with read_only(ledger.engine) as conn:
        rows = conn.execute(sa.text("SELECT seq, action, purpose FROM audit_log ORDER BY seq"))
        return [(int(s), str(a), str(p)) for s, a, p in rows]


@contextmanager
def lock_held(ledger: Ledger) -> Iterator[sqlite3.Connection]:
    """The database's write lock, held by another connection (a batch landing, say)."""
    holder = sqlite3.connect(database(ledger), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield holder
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


def read_on_loop(ledger: Ledger, name: str, purpose: str) -> int:
    """A provider's check as the service makes it; the number of its committed entry."""

    async def main() -> int:
        _, _, committed = ledger.read_on_loop(name, actor=BANK, purpose=purpose)
        return (await committed).seq

    return asyncio.run(main())


@pytest.fixture
def served(ledger: Ledger) -> Iterator[tuple[Ledger, str]]:
    number = make_id(sequence=41)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    ledger.start_service()
    try:
        yield ledger, ledger.pseudonym_of(number)
    finally:
        ledger.stop_service()


def test_a_read_while_the_lock_is_taken_is_committed_to_the_overflow_then_moved_in_order(
    served: tuple[Ledger, str],
) -> None:
    ledger, name = served
    head = logged(ledger)[-1][0]
    with lock_held(ledger):
        first = read_on_loop(ledger, name, "while a batch lands")
        second = ledger.read_entry(name, actor=BANK, purpose="from a thread")[2].seq
        # committed (the answers came back) while the lock is still held: in the overflow
        assert (first, second) == (head + 1, head + 2)
        assert waiting(ledger) == [head + 1, head + 2]
        assert logged(ledger)[-1][0] == head
        assert verify_ledger(ledger.engine).waiting == 2
    third = read_on_loop(ledger, name, "after the batch")
    assert third == head + 3
    assert [p for _, _, p in logged(ledger)[-3:]] == [
        "while a batch lands",
        "from a thread",
        "after the batch",
    ]
    assert waiting(ledger) == []
    check = verify_ledger(ledger.engine)
    assert check.head.seq == head + 3 and check.waiting == 0


def test_a_writer_holding_the_lock_moves_the_waiting_entries_ahead_of_its_own(
    served: tuple[Ledger, str],
) -> None:
    ledger, name = served
    head = logged(ledger)[-1][0]
    begun, appended = threading.Event(), threading.Event()

    def long_write() -> None:  # a write transaction through the ledger's own engine
        with ledger.engine.begin() as conn:
            begun.set()
            appended.wait(10)
            append_entry(conn, actor="operator:ops", action="test.write", purpose="long write")

    writer = threading.Thread(target=long_write)
    writer.start()
    begun.wait(10)
    read_on_loop(ledger, name, "during the write")
    assert waiting(ledger) == [head + 1]
    appended.set()
    writer.join(10)
    assert logged(ledger)[-2:] == [
        (head + 1, "resident.read", "during the write"),
        (head + 2, "test.write", "long write"),
    ]
    assert waiting(ledger) == []
    verify_ledger(ledger.engine)


def test_a_rolled_back_writer_leaves_the_waiting_entries_for_the_next(
    served: tuple[Ledger, str],
) -> None:
    ledger, name = served
    head = logged(ledger)[-1][0]
    with lock_held(ledger):
        read_on_loop(ledger, name, "kept")
    with pytest.raises(RuntimeError), ledger.engine.begin() as conn:
        append_entry(conn, actor="operator:ops", action="test.write", purpose="rolled back")
        assert conn.execute(sa.text("SELECT max(seq) FROM audit_log")).scalar() == head + 2
        raise RuntimeError("the write fails after its append")
    assert waiting(ledger) == [head + 1]  # still there, and still the chain's tail
    assert verify_ledger(ledger.engine).waiting == 1
    read_on_loop(ledger, name, "next")
    assert [p for _, _, p in logged(ledger)[-2:]] == ["kept", "next"]
    verify_ledger(ledger.engine)


def test_entries_left_behind_by_a_killed_mover_are_never_moved_twice(
    served: tuple[Ledger, str],
) -> None:
    ledger, name = served
    with lock_held(ledger):
        moved = read_on_loop(ledger, name, "moved once")
    overflow = Overflow(database(ledger))
    try:
        (copy,) = overflow.waiting((moved - 1, logged_hash(ledger, moved - 1)), lambda _: None)
        read_on_loop(ledger, name, "moves it")
        # as a process killed between the ledger's commit and the overflow's cleanup leaves it
        overflow.add([copy])
    finally:
        overflow.close()
    assert waiting(ledger) == [moved]
    read_on_loop(ledger, name, "after the kill")
    purposes = [p for _, _, p in logged(ledger)]
    assert purposes.count("moved once") == 1
    assert waiting(ledger) == []
    verify_ledger(ledger.engine)


def logged_hash(ledger: Ledger, seq: int) -> str:
    with read_only(ledger.engine) as conn:
        found = conn.execute(sa.text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": seq})
        return str(found.scalar_one())


def test_an_entry_edited_in_the_overflow_is_named_by_verify(served: tuple[Ledger, str]) -> None:
    ledger, name = served
    with lock_held(ledger):
        seq = read_on_loop(ledger, name, "checked")
        read_on_loop(ledger, name, "checked too")
        tampered = sqlite3.connect(Overflow(database(ledger)).path, isolation_level=None)
        tampered.execute("UPDATE audit_overflow SET actor = 'provider:other' WHERE seq = ?", (seq,))
        tampered.close()
        with pytest.raises(AuditChainBroken, match=f"audit entry {seq}"):
            verify_ledger(ledger.engine)


def test_an_overflow_that_does_not_follow_the_ledger_stops_writes_with_one_clear_line(
    served: tuple[Ledger, str],
) -> None:
    ledger, name = served
    with lock_held(ledger):
        seq = read_on_loop(ledger, name, "waiting")
        forged = sqlite3.connect(Overflow(database(ledger)).path, isolation_level=None)
        forged.execute("UPDATE audit_overflow SET prev_hash = ? WHERE seq = ?", ("0" * 64, seq))
        forged.close()
    with pytest.raises(LedgerError, match=f"audit overflow .*: entry {seq} does not follow"):
        read_on_loop(ledger, name, "refused")
    assert logged(ledger)[-1][0] == seq - 1  # nothing half-written


def test_an_erasure_redacts_the_entries_that_waited_in_the_overflow(
    served: tuple[Ledger, str],
) -> None:
    ledger, _ = served
    number = make_id(sequence=42)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    with lock_held(ledger):
        read_on_loop(ledger, name, "read before erasure")
    with read_only(ledger.engine) as conn:
        resident_id = conn.execute(
            sa.text("SELECT id FROM residents WHERE pseudonym = :p"), {"p": name}
        ).scalar_one()
    erase_resident(ledger.engine, resident_id, actor=OPERATOR, purpose="left the city")
    assert waiting(ledger) == []
    with read_only(ledger.engine) as conn:
        named = conn.execute(
            sa.text("SELECT count(*) FROM audit_log WHERE subject = :p"), {"p": name}
        ).scalar_one()
    assert named == 0
    verify_ledger(ledger.engine)


def test_a_transaction_that_appended_does_not_stall_the_event_loop(
    served: tuple[Ledger, str],
) -> None:
    """A batch whose first chunk corrects a record appends early and keeps the audit turn
    until it commits: the loop's group goes to the writer thread instead of waiting."""
    ledger, name = served
    appended, release = threading.Event(), threading.Event()

    def batch() -> None:
        with ledger.engine.begin() as conn:
            append_entry(conn, actor="department:traffic-police", action="test.write", purpose="c")
            appended.set()
            release.wait(10)

    writer = threading.Thread(target=batch)
    writer.start()
    appended.wait(10)

    async def main() -> tuple[int, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        running = asyncio.create_task(ticker())
        _, _, committed = ledger.read_on_loop(name, actor=BANK, purpose="during the batch")
        await asyncio.sleep(0.3)
        seen = ticks  # the loop kept running while the entry waited for the turn
        assert not committed.done()
        release.set()
        entry = await committed
        running.cancel()
        return seen, entry.seq

    seen, seq = asyncio.run(main())
    writer.join(10)
    assert seen >= 10
    assert logged(ledger)[-1][:2] == (seq, "resident.read")
    verify_ledger(ledger.engine)


def test_a_correction_tells_providers_whose_checks_still_wait_in_the_overflow(
    served: tuple[Ledger, str],
) -> None:
    from osmanthus.ledger.rechecks import after_change, recheck_rows

    ledger, name = served
    with lock_held(ledger):
        read_on_loop(ledger, name, "eligibility_check")
    assert waiting(ledger)
    now = ledger.now()
    with ledger.engine.begin() as conn:
        after_change(conn, name, "record corrected", now)
    assert [r.reason for r in recheck_rows(ledger.engine, BANK)] == ["record corrected"]


def test_an_entry_numbered_without_seeing_the_overflow_is_refused_not_dropped(
    served: tuple[Ledger, str],
) -> None:
    """A writer that did not see the overflow (another file name, another engine) numbers
    its entry like a waiting one: the waiting entry is not deleted as a leftover copy."""
    ledger, name = served
    with lock_held(ledger):
        seq = read_on_loop(ledger, name, "answered")
    stranger = sa.create_engine(f"sqlite:///{database(ledger)}")
    with (
        pytest.raises(LedgerError, match="does not take the audit turn"),
        stranger.begin() as conn,
    ):
        append_entry(conn, actor="operator:ops", action="test.write", purpose="stranger")
    raw = sqlite3.connect(database(ledger), isolation_level=None)  # written by hand
    previous = logged_hash(ledger, seq - 1)
    raw.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject, purpose, detail, prev_hash, "
        "hash) VALUES (?, '2026-12-06T00:00:00.000000+00:00', 'x', 'x', NULL, 'x', '{}', ?, ?)",
        (seq, previous, "f" * 64),
    )
    raw.close()
    with pytest.raises(LedgerError, match=f"entry {seq} is not the ledger's entry {seq}"):
        read_on_loop(ledger, name, "next")
    assert waiting(ledger) == [seq]  # kept for the audit
    with pytest.raises(AuditChainBroken):
        verify_ledger(ledger.engine)


def test_entries_moved_inside_a_rolled_back_savepoint_stay_in_the_overflow(
    served: tuple[Ledger, str],
) -> None:
    ledger, name = served
    with lock_held(ledger):
        seq = read_on_loop(ledger, name, "answered")
    with ledger.engine.begin() as conn:
        try:
            with conn.begin_nested():
                append_entry(conn, actor="operator:ops", action="test.write", purpose="refused")
                raise ValueError("the row is refused")
        except ValueError:
            pass
    assert waiting(ledger) == [seq]
    read_on_loop(ledger, name, "next")
    assert [p for _, _, p in logged(ledger)[-2:]] == ["answered", "next"]
    verify_ledger(ledger.engine)


def test_nested_audited_writes_in_one_thread_are_refused_not_deadlocked(ledger: Ledger) -> None:
    with ledger.engine.begin() as outer:
        append_entry(outer, actor="operator:ops", action="test.write", purpose="outer")
        with (
            pytest.raises(LedgerError, match="one audited write transaction at a time"),
            read_only(ledger.engine) as inner,  # deferred: no wait for the write lock
        ):
            append_entry(inner, actor="operator:ops", action="test.write", purpose="inner")
