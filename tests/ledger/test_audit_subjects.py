"""Audit entries found by subject (SQLite and PostgreSQL): complete before, during and
after indexing passes, and the index filled for entries stored before it existed."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from functools import partial

import pytest
import sqlalchemy as sa
from alembic import command

from factories import OPERATOR, make_id
from osmanthus.audit import entry_hash
from osmanthus.ledger import Actor, Ledger
from osmanthus.ledger.audit_subjects import (
    BUSY_TRIES,
    busy,
    entries_about,
    index_subjects,
    subject_key,
)
from osmanthus.ledger.database import _alembic_config, read_only
from osmanthus.ledger.schema import audit_indexed, audit_log, audit_subjects
from osmanthus.residents import who_read

BANK = Actor("provider", "bank")


def seqs_about(ledger: Ledger, subject: str) -> list[int]:
    about = entries_about(subject, audit_log.c.seq)
    with read_only(ledger.engine) as conn:
        return sorted(conn.execute(sa.select(about.c.seq)).scalars())


def stored_seqs(ledger: Ledger, subject: str) -> list[int]:
    """The reference: a full scan of the log."""
    with read_only(ledger.engine) as conn:
        query = sa.select(audit_log.c.seq).where(audit_log.c.subject == subject)
        return sorted(conn.execute(query).scalars())


def own_connection(ledger: Ledger) -> sqlite3.Connection:
    """A connection of the ledger's SQLite file as the upkeep opens it (autocommit, no
    waiting for locks)."""
    connection = sqlite3.connect(
        str(ledger.engine.url.database), isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA busy_timeout=0")
    return connection


def head(ledger: Ledger) -> int:
    with read_only(ledger.engine) as conn:
        return int(conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar_one())


def upto(ledger: Ledger) -> int:
    with read_only(ledger.engine) as conn:
        return int(conn.execute(sa.select(audit_indexed.c.upto)).scalar_one())


def passes_keep_lookups_complete(ledger: Ledger, index: Callable[..., int]) -> None:
    numbers = [make_id(sequence=n) for n in range(1, 4)]
    names = []
    for number in numbers:
        ledger.register_resident(number, "gusu", actor=OPERATOR)
        names.append(ledger.pseudonym_of(number))
    for _ in range(3):
        ledger.read_pseudonym(names[0], actor=BANK, purpose="loan")
    assert all(seqs_about(ledger, n) == stored_seqs(ledger, n) for n in names)

    # a pass with room for only some of the entries, then reads after it
    assert index(most=4, chunk=2) == 4
    assert upto(ledger) > 0
    ledger.read_pseudonym(names[1], actor=BANK, purpose="loan")
    assert all(seqs_about(ledger, n) == stored_seqs(ledger, n) for n in names)

    # caught up: everything comes from the index, and nothing is counted twice
    while index(chunk=3):
        pass
    assert upto(ledger) == head(ledger)
    assert all(seqs_about(ledger, n) == stored_seqs(ledger, n) for n in names)
    assert [entry.action for entry in who_read(ledger, names[0])][:3] == ["resident.read"] * 3


def test_lookups_are_complete_whether_or_not_entries_are_indexed(ledger: Ledger) -> None:
    passes_keep_lookups_complete(ledger, partial(index_subjects, ledger.engine))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_passes_through_a_sqlite_connection_write_the_same_index(ledger: Ledger) -> None:
    """The upkeep's way on SQLite: a statement a chunk on its own autocommit connection."""
    with closing(own_connection(ledger)) as connection:
        passes_keep_lookups_complete(
            ledger, partial(index_subjects, ledger.engine, sqlite_connection=connection)
        )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_sqlite_pass_gives_way_to_a_writer_holding_the_lock(ledger: Ledger) -> None:
    """A department's upload holds the write lock: the pass never waits for it under the
    audit writers' turn; it tries again outside it, gives up after a while (a long
    upload) without moving ``upto``, and goes through once the lock is free."""
    number = make_id(sequence=5)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    ledger.read_pseudonym(name, actor=BANK, purpose="loan")
    before = upto(ledger)
    turns = []

    @contextmanager
    def hold() -> Iterator[None]:
        turns.append(1)
        yield

    with closing(own_connection(ledger)) as connection, closing(own_connection(ledger)) as upload:
        upload.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked") as failed:
            index_subjects(ledger.engine, sqlite_connection=connection, hold=hold)
        assert busy(failed.value) and len(turns) == BUSY_TRIES  # one try per turn
        assert upto(ledger) == before
        assert seqs_about(ledger, name) == stored_seqs(ledger, name)

        upload.execute("ROLLBACK")
        ledger.read_pseudonym(name, actor=BANK, purpose="loan")
        upload.execute("BEGIN IMMEDIATE")  # a short upload this time
        threading.Timer(0.05, lambda: upload.execute("ROLLBACK")).start()
        upload_started = time.monotonic()
        assert index_subjects(ledger.engine, sqlite_connection=connection) > 0
    assert time.monotonic() - upload_started >= 0.04  # it waited for the upload's end
    assert upto(ledger) == head(ledger)
    assert seqs_about(ledger, name) == stored_seqs(ledger, name)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_pass_failing_before_its_end_leaves_upto_where_it_was(ledger: Ledger) -> None:
    number = make_id(sequence=6)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    for _ in range(4):
        ledger.read_pseudonym(name, actor=BANK, purpose="loan")
    before, turns = upto(ledger), []

    @contextmanager
    def hold_twice() -> Iterator[None]:
        turns.append(1)
        if len(turns) > 2:
            raise OSError("the turn could not be taken")
        yield

    with closing(own_connection(ledger)) as connection, pytest.raises(OSError):
        index_subjects(ledger.engine, sqlite_connection=connection, hold=hold_twice, chunk=1)
    assert upto(ledger) == before  # two chunks written, the rest and upto not
    assert seqs_about(ledger, name) == stored_seqs(ledger, name)


def test_a_pass_cut_short_is_done_again_without_harm(ledger: Ledger) -> None:
    """Keys written by a pass that did not get to move ``upto`` (a crash, say) are written
    again by the next pass; lookups ignore them until then."""
    number = make_id(sequence=7)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    ledger.read_pseudonym(name, actor=BANK, purpose="loan")
    with ledger.engine.begin() as conn:  # the keys of a pass, without its last step
        rows = conn.execute(sa.select(audit_log.c.seq, audit_log.c.subject)).all()
        conn.execute(
            sa.insert(audit_subjects),
            [{"subject_key": subject_key(s), "seq": q} for q, s in rows if s is not None],
        )
    assert seqs_about(ledger, name) == stored_seqs(ledger, name)  # not counted twice
    index_subjects(ledger.engine)
    assert seqs_about(ledger, name) == stored_seqs(ledger, name)


def test_the_migration_indexes_the_entries_already_stored(ledger: Ledger) -> None:
    number = make_id(sequence=8)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    ledger.read_pseudonym(name, actor=BANK, purpose="loan")
    with ledger.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0005")
    # an entry about the resident written at schema 0005, as the code of then wrote it
    # (format 1: today's code writes columns that schema has not got)
    with ledger.engine.begin() as conn:
        last = conn.execute(sa.text("SELECT seq, hash FROM audit_log ORDER BY seq DESC")).first()
        entry = {
            "seq": last.seq + 1,
            "at": "2026-11-01T09:00:00.000000+00:00",
            "actor": str(BANK),
            "action": "resident.read",
            "subject": name,
            "purpose": "written before the index existed",
            "detail": "{}",
        }
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (seq, at, actor, action, subject, purpose, detail, "
                "prev_hash, hash) VALUES (:seq, :at, :actor, :action, :subject, :purpose, "
                ":detail, :prev_hash, :hash)"
            ),
            {**entry, "prev_hash": last.hash, "hash": entry_hash(last.hash, entry)},
        )
    with ledger.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    with ledger.engine.connect() as conn:
        head = conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar_one()
        indexed = conn.execute(sa.select(sa.func.count()).select_from(audit_subjects)).scalar()
        with_subject = conn.execute(
            sa.select(sa.func.count()).where(audit_log.c.subject.is_not(None))
        ).scalar()
    assert upto(ledger) == head
    assert indexed == with_subject
    assert seqs_about(ledger, name) == stored_seqs(ledger, name)
    assert "written before the index existed" in [e.purpose for e in who_read(ledger, name)]
