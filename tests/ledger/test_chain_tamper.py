"""Tampering with the chain's links is named precisely (SQLite and PostgreSQL): a changed
``prev_hash`` alone is a broken link at that very entry, not a content mismatch."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from factories import OPERATOR, make_id, tamper
from osmanthus.errors import AuditChainBroken
from osmanthus.ledger import Ledger, read_only, verify_ledger


def test_a_changed_prev_hash_alone_is_a_broken_link_at_that_entry(ledger: Ledger) -> None:
    for n in (1, 2, 3):
        ledger.register_resident(make_id(sequence=n), "gusu", actor=OPERATOR)
    with read_only(ledger.engine) as conn:
        last = int(conn.execute(sa.text("SELECT max(seq) FROM audit_log")).scalar_one())
    target = last - 1  # neither end of the chain
    tamper(ledger, f"UPDATE audit_log SET prev_hash = '{'0' * 64}' WHERE seq = {target}")
    with pytest.raises(AuditChainBroken) as broken:
        verify_ledger(ledger.engine)
    assert str(broken.value) == (
        f"audit entry {target}: prev_hash does not match the hash of entry {target - 1}"
    )
