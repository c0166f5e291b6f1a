"""The ledger remembers which pseudonym key it was set up with, and every command and the
service refuse another (issue 20): a wrong key would find nobody and register everyone
twice under new pseudonyms."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from factories import write_key
from osmanthus.cli import app
from osmanthus.settings import get_settings
from osmanthus.web.app import create_app

runner = CliRunner()
KEY_A = "ledger-key-A-0123456789abcdef0123456789"
KEY_B = "ledger-key-B-0123456789abcdef0123456789"


def _run(db_url: str, key: str, *args: str) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OSMANTHUS_DATABASE_URL", db_url)
        mp.setenv("OSMANTHUS_PSEUDONYM_KEY", key)
        mp.delenv("OSMANTHUS_DEMO_MODE", raising=False)
        result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _key_entries(db_url: str) -> int:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM audit_log WHERE action = 'ledger.pseudonym_key'"
            return int(conn.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def test_a_command_with_another_key_is_refused_in_one_line(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _run(db_url, KEY_A, "init")[0] == 0
    assert _run(db_url, KEY_A, "init")[0] == 0  # again: the same key, recorded once
    assert _key_entries(db_url) == 1
    assert _run(db_url, KEY_A, "audit", "verify")[0] == 0

    for args in (
        ("audit", "verify"),
        ("score", "320508198703150011"),
        ("keys", "create", "--role", "auditor", "--name", "x"),
        ("init",),  # an operator cannot re-record the key by running init again
    ):
        code, output = _run(db_url, KEY_B, *args)
        assert code == 1, (args, output)
        lines = output.strip().splitlines()
        assert len(lines) == 1 and "not the key this ledger was set up with" in lines[0]
        assert "Traceback" not in output
    assert _key_entries(db_url) == 1


def test_the_service_refuses_to_start_with_another_key(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _run(db_url, KEY_A, "init")[0] == 0
    from fastapi.testclient import TestClient

    pem = write_key(tmp_path / "signing.pem")
    settings = get_settings(
        database_url=db_url, pseudonym_key=KEY_B, data_dir=tmp_path, signing_key_file=pem
    )

    refused = pytest.raises(Exception, match="not the key this ledger was set up with")
    with refused, TestClient(create_app(settings)):
        pass


def test_a_ledger_without_a_recorded_key_is_opened_and_init_records_it(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger set up before fingerprints: every key passes until init records one."""
    from osmanthus.ledger import connect, migrate

    monkeypatch.chdir(tmp_path)
    engine = connect(db_url)
    migrate(engine)
    engine.dispose()
    assert _key_entries(db_url) == 0
    assert _run(db_url, KEY_B, "audit", "verify")[0] == 0
    assert _run(db_url, KEY_A, "init")[0] == 0
    assert _run(db_url, KEY_B, "audit", "verify")[0] == 1


def test_readiness_fails_when_the_ledger_was_set_up_with_another_key(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found walking through docs/deployment.md: a service left running while the ledger
    was set up again under another key answered /ready with 400; now 503, so a load
    balancer takes it out."""
    from fastapi.testclient import TestClient

    from osmanthus.ledger import Ledger, connect
    from osmanthus.policy import PolicySet

    monkeypatch.chdir(tmp_path)
    assert _run(db_url, KEY_A, "init")[0] == 0
    engine = connect(db_url)
    try:
        ledger = Ledger(engine, PolicySet(()), KEY_B.encode())
        settings = get_settings(demo_mode=True, data_dir=tmp_path, upkeep_process=False)
        with TestClient(create_app(settings, ledger)) as client:
            answer = client.get("/ready")
        assert answer.status_code == 503
        assert "not the key this ledger was set up with" in answer.json()["error"]
    finally:
        engine.dispose()
