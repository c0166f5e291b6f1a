"""Tampering with the stored audit chain by plain SQL is found, and the entry named."""

from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from factories import OPERATOR, TEST_KEY, make_id, tamper
from osmanthus.cli import app
from osmanthus.errors import AuditChainBroken
from osmanthus.ledger import Ledger, NewRecord, chain_head, verify_chain


def busy_ledger(ledger: Ledger, make_record: Callable[..., NewRecord]) -> None:
    for seq in range(1, 4):
        ledger.register_resident(make_id(sequence=seq), "gusu", actor=OPERATOR)
        ledger.append_record(make_record(national_id=make_id(sequence=seq)), actor=OPERATOR)
        ledger.read_resident(make_id(sequence=seq), actor=OPERATOR, purpose="check")


def execute(ledger: Ledger, sql: str) -> None:
    tamper(ledger, sql)


def test_untouched_chain_verifies(ledger: Ledger, make_record: Callable[..., NewRecord]) -> None:
    busy_ledger(ledger, make_record)
    head = verify_chain(ledger.engine)
    assert head.count == 10  # departments + 3 x (register, append, read)
    assert chain_head(ledger.engine).hash == head.hash


def test_changed_row_is_named(ledger: Ledger, make_record: Callable[..., NewRecord]) -> None:
    busy_ledger(ledger, make_record)
    execute(ledger, "UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 4")
    with pytest.raises(AuditChainBroken, match="audit entry 4: content does not match") as info:
        verify_chain(ledger.engine)
    assert info.value.seq == 4


def test_deleted_row_is_named(ledger: Ledger, make_record: Callable[..., NewRecord]) -> None:
    busy_ledger(ledger, make_record)
    execute(ledger, "DELETE FROM audit_log WHERE seq = 6")
    with pytest.raises(AuditChainBroken, match="audit entry 6: missing"):
        verify_chain(ledger.engine)


def test_deleting_the_newest_row_is_found_with_the_published_head(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    busy_ledger(ledger, make_record)
    published = chain_head(ledger.engine).hash
    execute(ledger, "DELETE FROM audit_log WHERE seq = 10")
    with pytest.raises(AuditChainBroken, match="no entry with the published head"):
        verify_chain(ledger.engine, expected_head=published)


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE audit_log SET actor = 'operator:someone-else' WHERE seq = 5",
        "DELETE FROM audit_log WHERE seq = 5",
    ],
)
def test_cli_audit_verify_fails_and_names_the_entry(
    ledger: Ledger,
    make_record: Callable[..., NewRecord],
    db_url: str,
    tamper: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy_ledger(ledger, make_record)
    monkeypatch.setenv("OSMANTHUS_DATABASE_URL", db_url)
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "audit chain verified: 10 entries" in ok.output
    execute(ledger, tamper)
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert broken.output.strip().startswith("error: audit entry 5:")
    assert len(broken.output.strip().splitlines()) == 1
