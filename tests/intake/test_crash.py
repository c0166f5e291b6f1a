"""Killing an intake process with SIGKILL at many moments: the batch is whole or absent.

A real ``osmanthus intake`` process loads a batch of many small chunks (so the kill lands
while chunks are being written, before, during and after the commit) and is killed at
delays spread over its whole run. After every kill, on SQLite and on PostgreSQL:

- the batch's records are all there or none are, and its batch row with them;
- a batch whose acknowledgment was printed before the kill is in the ledger;
- the audit chain verifies;
- resubmitting (the next attempt) either completes the batch or changes nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from factories import OPERATOR, TEST_KEY, approve_policy
from osmanthus.identity import check_character
from osmanthus.ledger import Ledger, RecordBatch, ResidentBatch, bulk_load, verify_chain

ROWS = 20_000
RESIDENTS = 5_000
CHUNK = 1_250  # 16 chunks: kills land while chunks are written
BATCH = "CRASH-1"


def national_ids(n: int) -> list[str]:
    days = np.datetime64("1950-01-01") + np.arange(n) % 20_000
    born = np.datetime_as_string(days).astype("U10")
    ids = []
    for i, day in enumerate(born.tolist()):
        body = f"320508{day.replace('-', '')}{i // 20_000:03d}"
        ids.append(body + check_character(body))
    return ids


def write_batch(path: Path, ids: list[str], prefix: str = "CR") -> None:
    rng = np.random.default_rng(7)
    who = rng.integers(0, len(ids), ROWS)
    day = np.datetime64("2026-01-01") + rng.integers(0, 200, ROWS)
    lines = ["national_id,metric,act_date,decision_date,source_ref,value"]
    dates = np.datetime_as_string(day).tolist()
    lines += [
        f"{ids[w]},failure_to_yield,{d},{d},{prefix}-{i:07d},1"
        for i, (w, d) in enumerate(zip(who.tolist(), dates, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def state(ledger: Ledger) -> tuple[int, int]:
    with ledger.engine.connect() as conn:
        records = conn.execute(
            sa.text("SELECT count(*) FROM records WHERE batch_id = :b"), {"b": BATCH}
        ).scalar_one()
        batches = conn.execute(
            sa.text("SELECT count(*) FROM batches WHERE batch_id = :b AND status = 'committed'"),
            {"b": BATCH},
        ).scalar_one()
    return int(records), int(batches)


def run_killed(
    env: dict[str, str], path: Path, delay: float, batch: str = BATCH
) -> tuple[bool, float]:
    """Start an intake process, SIGKILL it after ``delay`` s; return (acknowledged, took)."""
    command = [
        sys.executable,
        "-m",
        "osmanthus",
        "intake",
        str(path),
        "--department",
        "traffic-police",
        "--batch-id",
        batch,
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
    stdout, _ = process.communicate()
    return f"batch {batch} from traffic-police: committed" in stdout, time.monotonic() - started


def test_sigkill_at_any_moment_leaves_all_or_nothing(
    make_ledger: Callable[..., Ledger], db_url: str, tmp_path: Path
) -> None:
    ledger = make_ledger()
    approve_policy(ledger, population_dir=tmp_path / "pop")  # the CLI scores with it
    ids = national_ids(RESIDENTS)
    empty = RecordBatch(
        resident=np.empty(0, dtype=np.int64),
        department=np.empty(0, dtype="U1"),
        metric=np.empty(0, dtype="U1"),
        value=np.empty(0),
        act_date=np.empty(0, dtype="datetime64[D]"),
        decision_date=np.empty(0, dtype="datetime64[D]"),
        source_ref=np.empty(0, dtype="U1"),
    )
    people = ResidentBatch(np.array(ids), np.array(["gusu"] * len(ids)))
    bulk_load(ledger, people, empty, actor=OPERATOR, batch_id="residents")
    path = tmp_path / "batch.csv"
    write_batch(path, ids)
    env = {
        **os.environ,
        "OSMANTHUS_DATABASE_URL": db_url,
        "OSMANTHUS_PSEUDONYM_KEY": TEST_KEY.decode(),
        "OSMANTHUS_INTAKE_CHUNK_ROWS": str(CHUNK),
        "OSMANTHUS_TIMEZONE": "UTC",
    }
    # how long a full run of the same size takes here (another batch into the same ledger),
    # so that the kills spread over all of it, and past it
    write_batch(tmp_path / "scratch.csv", ids, prefix="SC")
    acknowledged, full = run_killed(env, tmp_path / "scratch.csv", 600, batch="SCRATCH")
    assert acknowledged, "the uninterrupted run did not commit"
    delays = [*np.linspace(0.3, full * 1.1, 4).tolist(), 600.0, 600.0]  # then two whole runs
    outcomes = []
    for delay in delays:
        acknowledged, _ = run_killed(env, path, delay)
        records, batches = state(ledger)
        assert (records, batches) in ((0, 0), (ROWS, 1)), (delay, records, batches)
        if acknowledged:
            assert (records, batches) == (ROWS, 1), "an acknowledged batch was lost"
        verify_chain(ledger.engine)
        outcomes.append((round(delay, 2), records == ROWS))
    assert outcomes[-2][1] and outcomes[-1][1], outcomes  # completed, then resubmitted: same
    assert not outcomes[0][1], outcomes  # the kills did interrupt runs
    print("kill delay (s), batch complete afterwards:", outcomes)
