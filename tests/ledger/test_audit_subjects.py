"""Audit entries found by subject (SQLite and PostgreSQL): complete before, during and
after indexing passes, and the index filled for entries stored before it existed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from factories import OPERATOR, make_id
from osmanthus.ledger import Actor, Ledger
from osmanthus.ledger.audit_subjects import entries_about, index_subjects, subject_key
from osmanthus.ledger.database import _alembic_config
from osmanthus.ledger.schema import audit_indexed, audit_log, audit_subjects
from osmanthus.residents import who_read

BANK = Actor("provider", "bank")


def seqs_about(ledger: Ledger, subject: str) -> list[int]:
    about = entries_about(subject, audit_log.c.seq)
    with ledger.engine.connect() as conn:
        return sorted(conn.execute(sa.select(about.c.seq)).scalars())


def stored_seqs(ledger: Ledger, subject: str) -> list[int]:
    """The reference: a full scan of the log."""
    with ledger.engine.connect() as conn:
        query = sa.select(audit_log.c.seq).where(audit_log.c.subject == subject)
        return sorted(conn.execute(query).scalars())


def upto(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(sa.select(audit_indexed.c.upto)).scalar_one())


def test_lookups_are_complete_whether_or_not_entries_are_indexed(ledger: Ledger) -> None:
    numbers = [make_id(sequence=n) for n in range(1, 4)]
    names = []
    for number in numbers:
        ledger.register_resident(number, "gusu", actor=OPERATOR)
        names.append(ledger.pseudonym_of(number))
    for _ in range(3):
        ledger.read_pseudonym(names[0], actor=BANK, purpose="loan")
    assert all(seqs_about(ledger, n) == stored_seqs(ledger, n) for n in names)

    # a pass with room for only some of the entries, then reads after it
    assert index_subjects(ledger.engine, most=4, chunk=2) == 4
    assert upto(ledger) > 0
    ledger.read_pseudonym(names[1], actor=BANK, purpose="loan")
    assert all(seqs_about(ledger, n) == stored_seqs(ledger, n) for n in names)

    # caught up: everything comes from the index, and nothing is counted twice
    while index_subjects(ledger.engine, chunk=3):
        pass
    with ledger.engine.connect() as conn:
        head = conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar_one()
    assert upto(ledger) == head
    assert all(seqs_about(ledger, n) == stored_seqs(ledger, n) for n in names)
    assert [entry.action for entry in who_read(ledger, names[0])][:3] == ["resident.read"] * 3


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
    ledger.read_pseudonym(name, actor=BANK, purpose="written before the index existed")
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
