"""Signed audit checkpoints: a prefix of the chain after any growth, and not after a
rewrite of the past; bad checkpoint files get one clear error each."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from factories import OPERATOR, TEST_KEY, make_id, tamper
from osmanthus.audit import entry_hash
from osmanthus.cli import app
from osmanthus.errors import AuditChainBroken, SignatureInvalid
from osmanthus.ledger import Ledger, NewRecord, latest_checkpoint
from osmanthus.reports import SigningKey
from osmanthus.reports.checkpoint import (
    checkpoint_if_due,
    make_checkpoint,
    verify_checkpoint,
    verify_since_checkpoint,
)


@pytest.fixture
def key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate(), "test")


def grow(ledger: Ledger, make_record: Callable[..., NewRecord], start: int, reads: int) -> None:
    number = make_id(sequence=start)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    ledger.append_record(make_record(national_id=number), actor=OPERATOR)
    for _ in range(reads):
        ledger.read_resident(number, actor=OPERATOR, purpose="check")


def test_a_checkpoint_verifies_after_a_thousand_new_entries(
    ledger: Ledger, make_record: Callable[..., NewRecord], key: SigningKey
) -> None:
    grow(ledger, make_record, 1, 3)
    document = make_checkpoint(ledger.engine, key)
    assert latest_checkpoint(ledger.engine) == document
    grow(ledger, make_record, 2, 998)
    result = verify_checkpoint(ledger.engine, document, [key.public])
    assert result.head.seq == document["body"]["seq"] + 1_000
    since = verify_since_checkpoint(ledger.engine, document["body"]["seq"], [key.public])
    assert since.head.count == 1_000 and since.rows["records"] == 1


@pytest.mark.parametrize("where", ["first", "at", "after"])
def test_a_rewrite_of_the_past_fails_the_checkpoint(
    ledger: Ledger, make_record: Callable[..., NewRecord], key: SigningKey, where: str
) -> None:
    grow(ledger, make_record, 1, 3)
    document = make_checkpoint(ledger.engine, key)
    seq = document["body"]["seq"]
    grow(ledger, make_record, 2, 3)
    target = {"first": 1, "at": seq, "after": seq + 2}[where]
    _rewrite_from(ledger, target)
    if where == "after":  # the past up to the checkpoint is intact: it still verifies
        verify_checkpoint(ledger.engine, document, [key.public], rows=False)
        return
    # a rewrite from the first entry changes the ledger's identity itself
    expected = "another ledger" if where == "first" else f"audit entry {seq}: its hash"
    with pytest.raises(AuditChainBroken, match=expected):
        verify_checkpoint(ledger.engine, document, [key.public], rows=False)


def _rewrite_from(ledger: Ledger, seq: int) -> None:
    """Rewrite entry ``seq`` and re-hash every entry after it: a consistent new chain."""
    with ledger.engine.connect() as conn:
        rows = [
            dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM audit_log ORDER BY seq")
        ]
    prev = rows[seq - 2]["hash"] if seq > 1 else "0" * 64
    statements = []
    for row in rows[seq - 1 :]:
        if row["seq"] == seq:
            row["purpose"] = "rewritten"
        row["prev_hash"], row["hash"] = prev, entry_hash(prev, row)
        prev = row["hash"]
        statements.append(
            f"UPDATE audit_log SET purpose = '{row['purpose']}', prev_hash = "
            f"'{row['prev_hash']}', hash = '{row['hash']}' WHERE seq = {row['seq']}"
        )
    tamper(ledger, *statements)


def test_a_cut_chain_fails_the_checkpoint(
    ledger: Ledger, make_record: Callable[..., NewRecord], key: SigningKey
) -> None:
    grow(ledger, make_record, 1, 3)
    document = make_checkpoint(ledger.engine, key)
    tamper(ledger, f"DELETE FROM audit_log WHERE seq >= {document['body']['seq']}")
    with pytest.raises(AuditChainBroken, match="before the published entry"):
        verify_checkpoint(ledger.engine, document, [key.public], rows=False)


def test_a_checkpoint_of_another_ledger_or_key_is_refused(
    make_ledger: Callable[..., Ledger], make_record: Callable[..., NewRecord], key: SigningKey
) -> None:
    ledger = make_ledger()
    grow(ledger, make_record, 1, 1)
    document = make_checkpoint(ledger.engine, key)
    other = SigningKey(Ed25519PrivateKey.generate(), "other")
    with pytest.raises(SignatureInvalid, match="not trusted"):
        verify_checkpoint(ledger.engine, document, [other.public])
    forged = json.loads(json.dumps(document))
    forged["body"]["seq"] += 1
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_checkpoint(ledger.engine, forged, [key.public])
    tamper(ledger, "UPDATE audit_log SET hash = 'x' WHERE seq = 1")
    with pytest.raises(AuditChainBroken, match="another ledger"):
        verify_checkpoint(ledger.engine, document, [key.public])


def test_cli_checkpoint_and_bad_files(
    ledger: Ledger,
    make_record: Callable[..., NewRecord],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    key: SigningKey,
) -> None:
    grow(ledger, make_record, 1, 2)
    pem = tmp_path / "signing.pem"
    pem.write_bytes(key.pem())
    monkeypatch.setenv("OSMANTHUS_DATABASE_URL", db_url)
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.setenv("OSMANTHUS_SIGNING_KEY_FILE", str(pem))
    runner = CliRunner()
    path = tmp_path / "cp.json"
    made = runner.invoke(app, ["audit", "checkpoint", "--output", str(path)])
    assert made.exit_code == 0, made.output
    seq = json.loads(path.read_text())["body"]["seq"]
    grow(ledger, make_record, 2, 5)
    ok = runner.invoke(app, ["audit", "verify", "--checkpoint", str(path)])
    assert ok.exit_code == 0, ok.output
    assert "is a prefix of this chain" in ok.output
    since = runner.invoke(app, ["audit", "verify", "--since", str(seq)])
    assert since.exit_code == 0, since.output
    assert f"after entry {seq}" in since.output
    bad = {
        "not-json.json": "{",
        "wrong-shape.json": json.dumps({"osmanthus": "audit-checkpoint/1"}),
        "report.json": json.dumps({**json.loads(path.read_text()), "osmanthus": "credit-report/1"}),
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        failed = runner.invoke(app, ["audit", "verify", "--checkpoint", str(tmp_path / name)])
        assert failed.exit_code == 1, (name, failed.output)
        assert failed.output.startswith("error: ") and len(failed.output.strip().splitlines()) == 1
    missing = runner.invoke(app, ["audit", "verify", "--since", "99999"])
    assert missing.exit_code == 1 and "no stored audit checkpoint" in missing.output


def test_the_service_schedule_keeps_one_when_due_and_the_chain_grew(
    ledger: Ledger, make_record: Callable[..., NewRecord], key: SigningKey
) -> None:
    day = dt.timedelta(hours=24)
    start = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
    grow(ledger, make_record, 1, 0)
    first = checkpoint_if_due(ledger.engine, key, every=day, now=start)
    assert first is not None and latest_checkpoint(ledger.engine) == first  # none kept yet
    grow(ledger, make_record, 2, 1)
    assert checkpoint_if_due(ledger.engine, key, every=day, now=start + day / 2) is None
    second = checkpoint_if_due(ledger.engine, key, every=day, now=start + day)
    assert second is not None and second["body"]["seq"] > first["body"]["seq"]
    # a day later with nothing new: the chain did not grow, so nothing to sign
    assert checkpoint_if_due(ledger.engine, key, every=day, now=start + 3 * day) is None
    assert latest_checkpoint(ledger.engine) == second
    checked = verify_since_checkpoint(ledger.engine, first["body"]["seq"], [key.public])
    assert checked.head.seq == second["body"]["seq"]
