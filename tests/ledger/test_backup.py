"""``osmanthus backup`` and ``osmanthus restore`` (issue 20): a backup taken while the
ledger is in use restores into a ledger whose audit chain and published checkpoint both
verify; a backup or restore killed halfway leaves no file that looks whole and no
half-restored ledger; what is not a backup is refused in one line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from factories import OPERATOR, PG_URL, TEST_KEY, make_id
from osmanthus.cli import app
from osmanthus.ledger import Ledger, NewRecord, connect, migrate
from osmanthus.policy import PolicySet
from osmanthus.reports import SigningKey
from osmanthus.reports.checkpoint import make_checkpoint, verify_checkpoint

runner = CliRunner()


def _env(db_url: str, key: bytes = TEST_KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSMANTHUS_")}
    return {**env, "OSMANTHUS_DATABASE_URL": db_url, "OSMANTHUS_PSEUDONYM_KEY": key.decode()}


def _cli(db_url: str, *args: str, key: bytes = TEST_KEY) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _env(db_url, key).items():
            if name.startswith("OSMANTHUS_"):
                mp.setenv(name, value)
        mp.delenv("OSMANTHUS_DEMO_MODE", raising=False)
        result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _grow(ledger: Ledger, make_record: Callable[..., NewRecord], start: int, n: int) -> None:
    for k in range(start, start + n):
        number = make_id(sequence=k)
        ledger.register_resident(number, "gusu", actor=OPERATOR)
        ledger.append_record(make_record(national_id=number, source_ref=f"r-{k}"), actor=OPERATOR)
        ledger.read_resident(number, actor=OPERATOR, purpose="check")


def _head(db_url: str) -> int:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT max(seq) FROM audit_log")).scalar_one())
    finally:
        engine.dispose()


def test_a_backup_restores_and_its_chain_and_checkpoint_verify(
    ledger: Ledger, make_record: Callable[..., NewRecord], db_url: str, tmp_path: Path
) -> None:
    key = SigningKey(Ed25519PrivateKey.generate(), "test")
    _grow(ledger, make_record, 1, 5)
    published = make_checkpoint(ledger.engine, key)
    _grow(ledger, make_record, 6, 3)
    dest = tmp_path / "ledger.backup"
    stop = threading.Event()

    def serving() -> None:  # the service goes on reading (and auditing) meanwhile
        while not stop.is_set():
            ledger.read_resident(make_id(sequence=1), actor=OPERATOR, purpose="check")

    reader = threading.Thread(target=serving)
    reader.start()
    try:
        code, output = _cli(db_url, "backup", str(dest))
    finally:
        stop.set()
        reader.join()
    assert code == 0 and "backup written" in output, output
    assert dest.exists() and not (tmp_path / "ledger.backup.partial").exists()
    backed_up = int(re.search(r"audit entries up to ([\d,]+)", output)[1].replace(",", ""))
    _grow(ledger, make_record, 9, 4)  # work after the backup, lost by the restore
    ledger.engine.dispose()

    code, output = _cli(db_url, "restore", str(dest))
    assert code == 1 and "already holds a ledger" in output and "--replace" in output
    code, output = _cli(db_url, "restore", str(dest), "--replace")
    assert code == 0, output
    assert _head(db_url) == backed_up + 1  # what was backed up, then the restore's entry
    code, output = _cli(db_url, "audit", "verify")
    assert code == 0, output
    verify_checkpoint(ledger.engine, published, [key.public])
    with ledger.engine.connect() as conn:
        actions = conn.execute(
            sa.text("SELECT action FROM audit_log ORDER BY seq DESC LIMIT 2")
        ).scalars()
        # the backup's own entry came after the copy: the restore's takes its number
        assert list(actions) == ["ledger.restore", "resident.read"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is not an Osmanthus backup"),
        (b"id,metric\n1,x\n", "is not an Osmanthus backup"),
        (b"SQLite format 3\x00" + b"\x00" * 200, "is not a whole backup"),
    ],
)
def test_what_is_not_a_whole_backup_is_refused_in_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    target = f"sqlite:///{tmp_path / 'new.db'}"
    source = tmp_path / "ledger.backup"
    source.write_bytes(content)
    code, output = _cli(target, "restore", str(source))
    assert code == 1 and message in output and len(output.strip().splitlines()) == 1, output
    assert not (tmp_path / "new.db").exists() or _tables(target) == set()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _kill_when(process: subprocess.Popen[bytes], copying: Callable[[], bool]) -> None:
    """SIGKILL ``process`` once its copy is under way."""
    while process.poll() is None and not copying():
        time.sleep(0.001)
    assert process.poll() is None, "the copy finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_a_backup_or_restore_killed_halfway_leaves_nothing_that_looks_whole(
    policy: PolicySet, make_record: Callable[..., NewRecord], tmp_path: Path
) -> None:
    """On SQLite, whose copy is ours (pg_dump's is checked by pg_restore, above): a filler
    table makes the copy long enough to be killed in."""
    db_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = connect(db_url)
    migrate(engine)
    ledger = Ledger(engine, policy, TEST_KEY)
    ledger.sync_departments(OPERATOR)
    _grow(ledger, make_record, 1, 3)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE filler (b BLOB)"))
        for _ in range(160):
            conn.execute(sa.text("INSERT INTO filler VALUES (randomblob(1048576))"))
    engine.dispose()
    dest = tmp_path / "ledger.backup"
    command = [sys.executable, "-m", "osmanthus"]
    backing_up = subprocess.Popen([*command, "backup", str(dest)], env=_env(db_url))
    _kill_when(backing_up, lambda: (tmp_path / "ledger.backup.partial").exists())
    assert not dest.exists()
    code, output = _cli(f"sqlite:///{tmp_path / 'other.db'}", "restore", str(dest))
    assert code == 1 and "does not exist" in output

    assert _cli(db_url, "backup", str(dest))[0] == 0  # a whole one, then a restore killed
    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    assert _cli(target_url, "init")[0] == 0
    before = _head(target_url)
    wal = tmp_path / "target.db-wal"
    restoring = subprocess.Popen(
        [*command, "restore", str(dest), "--replace"], env=_env(target_url)
    )
    _kill_when(restoring, lambda: wal.exists() and wal.stat().st_size > 20 << 20)
    assert _head(target_url) == before  # the target as it was, whole
    assert _cli(target_url, "audit", "verify")[0] == 0


def test_a_postgresql_ledger_in_public_restores_into_a_new_database(
    _pg_admin: sa.Engine, policy: PolicySet, make_record: Callable[..., NewRecord]
) -> None:
    """As a city runs it: the ledger in the ``public`` schema of its own database, restored
    into a new database, which has a ``public`` schema already (found walking through
    docs/deployment.md: pg_restore failed on ``CREATE SCHEMA public``)."""
    suffix = uuid.uuid4().hex[:12]
    names = [f"osm_backup_src_{suffix}", f"osm_backup_dst_{suffix}"]
    autocommit = _pg_admin.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        for name in names:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    source_url, target_url = (
        sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        for name in names
    )
    try:
        engine = connect(source_url)
        migrate(engine)
        ledger = Ledger(engine, policy, TEST_KEY)
        ledger.record_key(str(OPERATOR))
        ledger.sync_departments(OPERATOR)
        _grow(ledger, make_record, 1, 3)
        engine.dispose()
        dest = Path(tempfile.mkdtemp()) / "ledger.backup"
        assert _cli(source_url, "backup", str(dest))[0] == 0
        code, output = _cli(target_url, "restore", str(dest))
        assert code == 0, output
        code, output = _cli(target_url, "audit", "verify")
        assert code == 0, output
        assert _head(target_url) == _head(source_url)  # the source's backup entry, the restore's
    finally:
        with autocommit.connect() as conn:
            for name in names:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_a_backup_of_a_ledger_under_another_key_is_refused_before_anything_is_written(
    policy: PolicySet, make_record: Callable[..., NewRecord], tmp_path: Path
) -> None:
    """An operator who restores another city's (or a test) ledger under this city's key
    would find nobody: refused in one line, the target untouched (SQLite, checked before
    the copy; on PostgreSQL the restored ledger then refuses the key, as every command
    does: tests/ledger/test_key_fingerprint.py)."""
    source_url = f"sqlite:///{tmp_path / 'other-city.db'}"
    engine = connect(source_url)
    migrate(engine)
    ledger = Ledger(engine, policy, TEST_KEY)
    ledger.record_key(str(OPERATOR))
    ledger.sync_departments(OPERATOR)
    _grow(ledger, make_record, 1, 2)
    engine.dispose()
    dest = tmp_path / "other-city.backup"
    assert _cli(source_url, "backup", str(dest))[0] == 0
    target_url = f"sqlite:///{tmp_path / 'ours.db'}"
    ours = b"our-own-city-key-0123456789abcdef0123"
    code, output = _cli(target_url, "restore", str(dest), key=ours)
    assert code == 1 and len(output.strip().splitlines()) == 1, output
    assert "not the key this ledger was set up with" in output
    assert not (tmp_path / "ours.db").exists() or _tables(target_url) == set()
