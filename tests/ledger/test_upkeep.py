"""The upkeep process of a SQLite ledger (real processes, real kills): started by the
worker that keeps the database, started again when it dies, gone when its worker is
killed, and another worker takes over then."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from factories import OPERATOR, POLICY_DIR, TEST_KEY, make_id
from osmanthus.errors import RecordRefused
from osmanthus.ledger import Actor, Ledger
from osmanthus.ledger.schema import audit_indexed, audit_log

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

BANK = Actor("provider", "bank")


def upkeep_processes(database: str) -> set[int]:
    """The ids of the running upkeep processes of ``database`` (read from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().split(") ")[-1].split()[0]
        except OSError:
            continue
        ours = any(b"osmanthus.ledger.upkeep" in w for w in words)
        if ours and state != "Z" and database.encode() in words:
            found.add(int(entry.name))
    return found


def wait_for(condition: Callable[[], object], seconds: float = 20.0) -> object:
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"still not true after {seconds} s: {condition}")


def indexed_to_head(ledger: Ledger) -> bool:
    with ledger.engine.connect() as conn:
        upto = conn.execute(sa.select(audit_indexed.c.upto)).scalar_one()
        head = conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar_one()
    return bool(upto == head)


def read_someone(ledger: Ledger, times: int) -> None:
    number = make_id(sequence=3)
    with contextlib.suppress(RecordRefused):  # registered by an earlier call
        ledger.register_resident(number, "gusu", actor=OPERATOR)
    for _ in range(times):
        ledger.read_pseudonym(ledger.pseudonym_of(number), actor=BANK, purpose="loan")


def test_the_upkeep_process_indexes_and_is_started_again_when_it_dies(ledger: Ledger) -> None:
    database = str(ledger.engine.url.database)
    ledger.start_service(upkeep_process=True)
    try:
        first = wait_for(lambda: upkeep_processes(database))
        assert len(first) == 1  # type: ignore[arg-type]
        read_someone(ledger, 5)
        wait_for(lambda: indexed_to_head(ledger))

        os.kill(next(iter(first)), signal.SIGKILL)  # type: ignore[call-overload]
        second = wait_for(lambda: upkeep_processes(database) - first)  # type: ignore[operator]
        assert len(second) == 1  # type: ignore[arg-type]
        read_someone(ledger, 5)
        wait_for(lambda: indexed_to_head(ledger))
    finally:
        ledger.stop_service()
    assert upkeep_processes(database) == set()  # stopped with the service


WORKER = textwrap.dedent(
    """
    import sys, time
    from osmanthus.ledger import Ledger, connect
    from osmanthus.policy import load_policy
    ledger = Ledger(connect(sys.argv[1]), load_policy(sys.argv[2]), sys.argv[3].encode())
    ledger.start_service(upkeep_process=True)
    print("serving", flush=True)
    time.sleep(600)
    """
)


def test_a_killed_worker_takes_its_upkeep_process_along_and_another_takes_over(
    ledger: Ledger, db_url: str
) -> None:
    database = str(ledger.engine.url.database)
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, db_url, str(POLICY_DIR), TEST_KEY.decode()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "serving"
        theirs = wait_for(lambda: upkeep_processes(database))
        ledger.start_service(upkeep_process=True)  # a second worker: it waits its turn
        try:
            time.sleep(2)
            assert upkeep_processes(database) == theirs

            worker.kill()  # SIGKILL: no shutdown, only the kernel closing its files
            worker.wait()
            ours = wait_for(lambda: upkeep_processes(database) - theirs)  # type: ignore[operator]
            wait_for(lambda: upkeep_processes(database) == ours)  # theirs has ended
            read_someone(ledger, 3)
            wait_for(lambda: indexed_to_head(ledger))
        finally:
            ledger.stop_service()
    finally:
        worker.kill()
        worker.wait()
        worker.stdout.close()  # type: ignore[union-attr]
    assert upkeep_processes(database) == set()
