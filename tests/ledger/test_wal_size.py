"""The SQLite write-ahead log after a spike."""

from pathlib import Path


def test_the_write_ahead_log_returns_to_its_normal_size_after_a_spike(tmp_path: Path) -> None:
    """Issue 20: after a large write the log stayed at its high-water mark (32 MB); every
    connection now cuts it back to WAL_KEPT_BYTES once it starts again."""
    from sqlalchemy import text

    from osmanthus.ledger.database import WAL_KEPT_BYTES, connect

    engine = connect(f"sqlite:///{tmp_path / 'spike.db'}")
    wal = tmp_path / "spike.db-wal"
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE spike (b BLOB)"))
            for _ in range(WAL_KEPT_BYTES // (1 << 20) + 8):  # a spike past the limit
                conn.execute(text("INSERT INTO spike VALUES (randomblob(1048576))"))
        assert wal.stat().st_size > WAL_KEPT_BYTES
        raw = engine.raw_connection()  # as the upkeep does: outside a transaction
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            raw.close()
        with engine.begin() as conn:  # the next write starts the log again, cut back
            conn.execute(text("DELETE FROM spike WHERE rowid = 1"))
        assert wal.stat().st_size <= WAL_KEPT_BYTES
    finally:
        engine.dispose()
