"""Benchmark: archiving a closed month of the audit log (``osmanthus audit archive``).

Builds a SQLite ledger whose audit log holds ``--entries`` provider eligibility reads
(the entry an eligibility check writes: a resident's pseudonym, a provider, a purpose
code) dated in October 2026, plus a few entries today, then measures: the archive of
October (the ledger verified, the file written, read back and renamed, the checkpoint
signed, the month detached), the file's size per entry, the database's size per entry
before and after (``VACUUM``), and ``audit verify`` from the archive's checkpoint and
across the file. The last line printed is one JSON object of these figures.

    .venv/bin/python bench/audit_archive.py --entries 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    args = parser.parse_args()

    import osmanthus.ledger.audit_log as audit_log_module
    from factories import OPERATOR, POLICY_DIR, TEST_KEY, write_key
    from osmanthus.ledger import Ledger, connect, migrate
    from osmanthus.ledger.audit_log import PendingEntry, append_entries
    from osmanthus.policy import load_policy
    from osmanthus.reports.archive import archive_through, verify_all
    from osmanthus.reports.signing import read_signing_key

    home = Path(tempfile.mkdtemp(prefix="osmanthus-archive-"))
    database = home / "ledger.db"
    engine = connect(f"sqlite:///{database}")
    migrate(engine)
    real_now = audit_log_module._now
    audit_log_module._now = lambda: "2026-10-15T10:00:00.000000+00:00"
    ledger = Ledger(engine, load_policy(POLICY_DIR), TEST_KEY)
    ledger.sync_departments(OPERATOR)
    started = time.perf_counter()
    for start in range(0, args.entries, 10_000):
        batch = [
            PendingEntry(
                "provider:suzhou-rail",
                "resident.read",
                "eligibility:transit_discount",
                hashlib.sha256(b"%d" % (n % 50_000)).hexdigest(),
                {"records": n % 7, "known_at": None, "perk": "transit_discount"},
            )
            for n in range(start, min(start + 10_000, args.entries))
        ]
        with engine.begin() as conn:
            append_entries(conn, batch)
    audit_log_module._now = real_now
    ledger.sync_departments(OPERATOR)  # an entry today
    print(f"built {args.entries:,} entries in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    _vacuum(database)
    before = database.stat().st_size
    key = read_signing_key(write_key(home / "signing.pem"))
    engine = connect(f"sqlite:///{database}")

    cpu, wall = _cpu(), time.perf_counter()
    done = archive_through(engine, "2026-10", home / "archive", key, actor="operator:bench")
    archive_s, archive_cpu = time.perf_counter() - wall, _cpu() - cpu
    month = done[-1]
    engine.dispose()
    _vacuum(database)
    after = database.stat().st_size
    engine = connect(f"sqlite:///{database}")

    cpu, wall = _cpu(), time.perf_counter()
    verify_all(engine, lambda: [key.public])
    live_s, live_cpu = time.perf_counter() - wall, _cpu() - cpu
    cpu, wall = _cpu(), time.perf_counter()
    verify_all(engine, lambda: [key.public], directory=home / "archive")
    files_s, files_cpu = time.perf_counter() - wall, _cpu() - cpu
    entries = month.last - month.first + 1
    print(f"archived {entries:,} entries of {month.month} ({month.detached:,} detached):")
    print(
        f"  archive (verify, write, read back, sign, detach): {archive_s:.1f} s, "
        f"{archive_cpu:.1f} CPU-s"
    )
    print(f"  file {month.size / 1e6:.1f} MB: {month.size / entries:.0f} bytes an entry")
    print(
        f"  database {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB after VACUUM: "
        f"{(before - after) / entries:.0f} bytes an entry freed"
    )
    print(f"  audit verify from the archive's checkpoint: {live_s:.2f} s")
    print(f"  audit verify --archive (through the file): {files_s:.1f} s, {files_cpu:.1f} CPU-s")
    print(  # one line a script can compare runs by
        json.dumps(
            {
                "entries": args.entries,
                "archived": entries,
                "detached": month.detached,
                "archive_s": round(archive_s, 3),
                "archive_cpu_s": round(archive_cpu, 3),
                "file_bytes": month.size,
                "file_bytes_per_entry": round(month.size / entries, 1),
                "database_bytes_before": before,
                "database_bytes_after": after,
                "freed_bytes_per_entry": round((before - after) / entries, 1),
                "verify_s": round(live_s, 3),
                "verify_cpu_s": round(live_cpu, 3),
                "verify_archive_s": round(files_s, 3),
                "verify_archive_cpu_s": round(files_cpu, 3),
            }
        )
    )


def _vacuum(database: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


if __name__ == "__main__":
    main()
