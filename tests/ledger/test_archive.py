"""Archiving closed months of the audit chain (issue 20, item 5): each month exported to
a file with a signed checkpoint and detached from the ledger; verification from the
archive's checkpoint and across the files; and the attacks on it (a file edited or
missing, an archive row made by hand to delete entries, a live entry deleted)."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import osmanthus.ledger.audit_log as audit_log_module
from factories import OPERATOR, TEST_KEY, approve_policy, make_id, write_key
from osmanthus.cli import app
from osmanthus.core import NewRecord
from osmanthus.ledger import Ledger

runner = CliRunner()
ONE_READ = {"actor": OPERATOR, "purpose": "operator look-up"}


def _at(monkeypatch: pytest.MonkeyPatch, day: str) -> None:
    """Entries written from now on carry this day (an October that has ended)."""
    monkeypatch.setattr(audit_log_module, "_now", lambda: f"{day}T10:00:00.000000+00:00")


@pytest.fixture
def city(
    make_ledger: Callable[..., Ledger],
    make_record: Callable[..., NewRecord],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[tuple[Ledger, list[str], Callable[..., tuple[int, str]]]]:
    """A ledger written in September, October and November 2026, and read today."""
    _at(monkeypatch, "2026-09-02")
    ledger = make_ledger()
    approve_policy(ledger, population_dir=tmp_path / "population")
    people = [make_id(sequence=n) for n in range(1, 5)]
    for month, number in (("2026-09-10", people[0]), ("2026-10-10", people[1])):
        _at(monkeypatch, month)
        ledger.register_resident(number, "gusu", actor=OPERATOR)
        ledger.append_record(make_record(national_id=number), actor=OPERATOR)
        ledger.read_resident(number, **ONE_READ)
    _at(monkeypatch, "2026-11-10")
    ledger.register_resident(people[2], "gusu", actor=OPERATOR)
    ledger.append_record(make_record(national_id=people[2]), actor=OPERATOR)
    ledger.read_resident(people[0], **ONE_READ)
    monkeypatch.undo()
    ledger.read_resident(people[1], **ONE_READ)  # today
    key = write_key(tmp_path / "signing.pem")
    url = ledger.engine.url.render_as_string(hide_password=False)

    def run(*args: str) -> tuple[int, str]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OSMANTHUS_DATABASE_URL", url)
            mp.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
            mp.setenv("OSMANTHUS_SIGNING_KEY_FILE", str(key))
            mp.setenv("OSMANTHUS_AUDIT_ARCHIVE_DIR", str(tmp_path / "archive"))
            mp.delenv("OSMANTHUS_DEMO_MODE", raising=False)
            result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    yield ledger, people, run


def _entries(ledger: Ledger) -> tuple[int, int]:
    with ledger.engine.connect() as conn:
        low, count = conn.execute(sa.text("SELECT min(seq), count(*) FROM audit_log")).one()
    return int(low), int(count)


def _one_line_error(code: int, output: str, *words: str) -> None:
    assert code == 1, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in output, output
    for word in words:
        assert word in lines[0], (word, output)


def test_closed_months_are_archived_detached_and_verified(
    city: tuple[Ledger, list[str], Callable[..., tuple[int, str]]], tmp_path: Path
) -> None:
    ledger, people, run = city
    before = _entries(ledger)
    archive = tmp_path / "archive"
    code, output = run("audit", "archive", "--through", "2026-10", "--to", str(archive))
    assert code == 0, output
    assert "archived 2026-09" in output and "archived 2026-10" in output
    names = sorted(p.name for p in archive.iterdir())
    assert names == [
        "audit-2026-09.json",
        "audit-2026-09.jsonl.gz",
        "audit-2026-10.json",
        "audit-2026-10.jsonl.gz",
    ]
    low, count = _entries(ledger)
    manifest = json.loads((archive / "audit-2026-10.json").read_text())
    assert low == manifest["last_seq"] + 1  # September and October are gone from the table
    assert count < before[1]
    with gzip.open(archive / "audit-2026-09.jsonl.gz", "rt") as lines:
        first = json.loads(lines.readline())
    assert first["seq"] == 1 and first["at"].startswith("2026-09")

    code, output = run("audit", "verify")
    assert code == 0, output
    assert "archived through 2026-10" in output and "records 3" in output
    code, output = run("audit", "verify", "--archive", str(archive))
    assert code == 0, output
    assert "2 archived months read from files" in output and "records 3" in output
    # again: nothing left before November; November is refused until it is closed
    code, output = run("audit", "archive", "--through", "2026-10", "--to", str(archive))
    assert code == 0 and "nothing to archive" in output, output
    _one_line_error(
        *run("audit", "archive", "--through", "2026-12", "--to", str(archive)), "not closed"
    )
    assert not (archive / "audit-2026-11.json").exists()  # refused before any month's work
    _one_line_error(*run("audit", "archive", "--through", "Oct", "--to", str(archive)), "YYYY-MM")
    # the look-ups and the key check still work on the live part
    code, output = run("score", people[0])
    assert code == 0, output


def test_attacks_on_the_archive_are_detected(
    city: tuple[Ledger, list[str], Callable[..., tuple[int, str]]], tmp_path: Path
) -> None:
    ledger, _, run = city
    archive = tmp_path / "archive"
    assert run("audit", "archive", "--through", "2026-10", "--to", str(archive))[0] == 0
    low, _ = _entries(ledger)

    # a live entry deleted: the database refuses (no archive covers it)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = :s"), {"s": low})

    # an entry edited in the file: found when verifying across the files
    path = archive / "audit-2026-10.jsonl.gz"
    original = path.read_bytes()
    with gzip.open(path, "rt") as source:
        lines = source.readlines()
    edited = json.loads(lines[1])
    edited["actor"] = "operator:someone-else"
    lines[1] = json.dumps(edited) + "\n"
    with gzip.open(path, "wt") as target:
        target.writelines(lines)
    _one_line_error(
        *run("audit", "verify", "--archive", str(archive)), f"audit entry {edited['seq']}"
    )
    path.unlink()
    _one_line_error(*run("audit", "verify", "--archive", str(archive)), str(path))
    path.write_bytes(original)
    assert run("audit", "verify", "--archive", str(archive))[0] == 0

    # an archive row made by hand, to delete November's entries: the database lets the
    # DELETE through, verification refuses the unsigned archive
    with ledger.engine.connect() as conn:
        last = conn.execute(
            sa.text("SELECT max(seq) FROM audit_log WHERE at < '2026-12'")
        ).scalar_one()
        row = conn.execute(sa.text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": last})
        forged_hash = row.scalar_one()
        october = conn.execute(
            sa.text("SELECT document, last_seq FROM audit_archives WHERE month = '2026-10'")
        ).one()
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit_archives (month, first_seq, last_seq, hash, file_name, at, "
                "document) VALUES ('2026-11', :f, :l, :h, 'audit-2026-11.jsonl.gz', "
                "'2026-12-01T00:00:00Z', :d)"
            ),
            {"f": october.last_seq + 1, "l": last, "h": forged_hash, "d": october.document},
        )
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq <= :l"), {"l": last})
    _one_line_error(*run("audit", "verify"), "audit archive 2026-11", "checkpoint")


def test_rows_of_archived_months_stay_checked_without_the_files(
    city: tuple[Ledger, list[str], Callable[..., tuple[int, str]]], tmp_path: Path
) -> None:
    """The archive's entry carries the archived entries' row claims: a record written in
    September and changed after its month was archived is still found."""
    ledger, _, run = city
    archive = tmp_path / "archive"
    assert run("audit", "archive", "--through", "2026-10", "--to", str(archive))[0] == 0
    with ledger.engine.begin() as conn:
        for trigger in ("records_erasure_only", "records_append_only"):  # as the owner
            if ledger.engine.dialect.name == "postgresql":
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {trigger} ON records"))
            else:
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {trigger}"))
        first = conn.execute(sa.text("SELECT min(id) FROM records")).scalar_one()
        conn.execute(sa.text("UPDATE records SET value = 9 WHERE id = :i"), {"i": first})
    _one_line_error(*run("audit", "verify"), f"records row {first}")
    _one_line_error(*run("audit", "verify", "--archive", str(archive)), f"records row {first}")


def test_archive_killed_at_any_moment_leaves_a_ledger_that_verifies(
    city: tuple[Ledger, list[str], Callable[..., tuple[int, str]]], tmp_path: Path
) -> None:
    """SIGKILL of a real ``osmanthus audit archive`` process at moments spread over its
    run: each time either nothing is detached or the month is (never a part), no file
    under a final name is damaged, and the ledger verifies; a last run completes it."""
    ledger, _, run = city
    url = ledger.engine.url.render_as_string(hide_password=False)
    archive = tmp_path / "archive"
    env = {
        **os.environ,
        "OSMANTHUS_DATABASE_URL": url,
        "OSMANTHUS_PSEUDONYM_KEY": TEST_KEY.decode(),
        "OSMANTHUS_SIGNING_KEY_FILE": str(tmp_path / "signing.pem"),  # the city fixture's
    }
    env.pop("OSMANTHUS_DEMO_MODE", None)
    command = [
        str(Path(sys.executable).with_name("osmanthus")),
        "audit", "archive", "--through", "2026-10", "--to", str(archive),
    ]  # fmt: skip
    started = time.perf_counter()
    verify = [*command[:2], "verify"]
    assert subprocess.run(verify, env=env, capture_output=True, check=False).returncode == 0
    whole = time.perf_counter() - started  # about what the archive's run takes
    killed = 0
    # from a third of a whole run (the command still starting) to past its end, in
    # steps of a twentieth: an archive faster than the verify still gets several kills
    for delay in [whole * (0.3 + 0.05 * step) for step in range(16)]:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        if process.wait(timeout=30) == 0:
            break  # it finished before this moment: the later ones would too
        killed += 1
        with ledger.engine.connect() as conn:
            archived = conn.execute(
                sa.text("SELECT month, first_seq, last_seq FROM audit_archives")
            )
            rows = archived.all()
            for _, first, last in rows:
                left = conn.execute(
                    sa.text("SELECT count(*) FROM audit_log WHERE seq BETWEEN :f AND :l"),
                    {"f": first, "l": last},
                ).scalar_one()
                assert left == 0
        for path in archive.glob("*.jsonl.gz"):
            with gzip.open(path, "rt") as whole:
                assert all(json.loads(line)["seq"] for line in whole)
        code, output = run("audit", "verify")
        assert code == 0, (delay, output)
    assert killed >= 3
    code, output = run("audit", "archive", "--through", "2026-10", "--to", str(archive))
    assert code == 0, output
    assert run("audit", "verify", "--archive", str(archive))[0] == 0


def test_a_failure_inside_the_detach_leaves_the_ledger_as_it_was(
    city: tuple[Ledger, list[str], Callable[..., tuple[int, str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The files are written first and the detach is one transaction: a failure in it
    (here the carrying of the key's fingerprint, made to fail) leaves every entry in
    place, and running again completes the archive."""
    import osmanthus.ledger.archive as archive_module

    ledger, _, run = city
    archive = tmp_path / "archive"
    before = _entries(ledger)

    def broken(*args: object, **kwargs: object) -> object:
        raise OSError("killed")

    monkeypatch.setattr(archive_module, "_carry_key", broken)
    code, _ = run("audit", "archive", "--through", "2026-09", "--to", str(archive))
    assert code != 0
    assert _entries(ledger) == before
    assert not list(archive.glob("*.partial"))
    monkeypatch.undo()
    code, output = run("audit", "archive", "--through", "2026-09", "--to", str(archive))
    assert code == 0, output
    assert run("audit", "verify", "--archive", str(archive))[0] == 0


def _archived_about(archive: Path, subject: str) -> list[int]:
    found = []
    for path in sorted(archive.glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as lines:
            found += [e["seq"] for e in map(json.loads, lines) if e["subject"] == subject]
    return found


GROUND = "PIPL Art. 47, request of 2026-12-01 granted"


def test_an_erasure_reaches_the_archived_months(
    city: tuple[Ledger, list[str], Callable[..., tuple[int, str]]], tmp_path: Path
) -> None:
    """Erasing a person redacts their entries in the archive's files too (the chain
    still verifies through them); without the files the erasure is refused, whole; an
    erasure cut short before its files were rewritten is named by verify and finished
    by the next archive run."""
    from osmanthus.ledger.erasure import _erase_residents

    ledger, people, run = city
    archive = tmp_path / "archive"  # the setting audit_archive_dir
    assert run("audit", "archive", "--through", "2026-10")[0] == 0
    first, second = (ledger.pseudonym_of(number) for number in people[:2])
    assert _archived_about(archive, first) and _archived_about(archive, second)

    code, output = run("retention", "erase", people[0], "--ground", GROUND)
    assert code == 0, output
    assert not _archived_about(archive, first)  # redacted in the file
    assert _archived_about(archive, second)
    assert run("audit", "verify", "--archive", str(archive))[0] == 0
    assert run("audit", "verify")[0] == 0

    # the files out of reach: refused in one line, nothing erased
    archive.rename(tmp_path / "elsewhere")
    _one_line_error(*run("retention", "erase", people[1], "--ground", GROUND), "archived month")
    (tmp_path / "elsewhere").rename(archive)
    assert run("score", people[1])[0] == 0

    # an erasure whose files were not rewritten (cut short after its commit)
    with ledger.engine.connect() as conn:
        resident = conn.execute(
            sa.text("SELECT id FROM residents WHERE pseudonym = :p"), {"p": second}
        ).scalar_one()
    _erase_residents(ledger.engine, [resident], OPERATOR, GROUND, False, archive)
    assert _archived_about(archive, second)
    _one_line_error(*run("audit", "verify", "--archive", str(archive)), "finish the erasure")
    code, output = run("audit", "archive", "--through", "2026-10")
    assert code == 0 and "nothing to archive" in output, output
    assert not _archived_about(archive, second)
    assert run("audit", "verify", "--archive", str(archive))[0] == 0


def test_a_forged_archive_from_a_routine_checkpoint_is_refused(
    city: tuple[Ledger, list[str], Callable[..., tuple[int, str]]],
) -> None:
    """Found in review: the service's routine checkpoint (kept where its role can read
    it) made into an archive row, with a hand-made archive entry carrying the claims,
    to delete every entry up to it. The archive checkpoint is a kind of its own, binding
    the month and its range, and an archive entry must match a recorded archive."""
    from osmanthus.ledger.archive import ARCHIVE_ACTION, Segment, _carried

    ledger, people, run = city
    assert run("audit", "checkpoint")[0] == 0
    ledger.read_resident(people[2], **ONE_READ)
    with ledger.engine.connect() as conn:
        document = conn.execute(
            sa.text("SELECT document FROM audit_checkpoints ORDER BY seq DESC")
        ).scalar_one()
    body = json.loads(document)["body"]
    last = int(body["seq"])
    with ledger.engine.begin() as conn:
        claims, erasures = _carried(conn, Segment("2026-08", 1, last, body["hash"], "0" * 64))
        conn.execute(
            sa.text(
                "INSERT INTO audit_archives (month, first_seq, last_seq, hash, file_name, at, "
                "document) VALUES ('2026-08', 1, :l, :h, 'audit-2026-08.jsonl.gz', :at, :d)"
            ),
            {"l": last, "h": body["hash"], "at": body["at"], "d": document},
        )
        audit_log_module.append_entry(
            conn,
            actor="operator:x",
            action=ARCHIVE_ACTION,
            purpose="archive",
            detail={
                "month": "2026-08",
                "first": 1,
                "last": last,
                "hash": body["hash"],
                "file": "audit-2026-08.jsonl.gz",
                "claims": claims,
                "erasures": erasures,
            },
        )
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq <= :l"), {"l": last})
    _one_line_error(*run("audit", "verify"), "audit archive 2026-08", "does not verify")


def test_a_key_revoked_before_its_month_is_archived_still_verifies(
    city: tuple[Ledger, list[str], Callable[..., tuple[int, str]]], tmp_path: Path
) -> None:
    """Found in review: a current-state row written in an archived month and again
    today; the carried (older) claim must not count as the newest."""
    from osmanthus.ledger.keys import revoke_key_digest

    ledger, _, run = city
    with ledger.engine.connect() as conn:
        digest = conn.execute(
            sa.text("SELECT key_hash FROM api_keys ORDER BY id LIMIT 1")
        ).scalar_one()
    assert revoke_key_digest(ledger.engine, digest, actor=OPERATOR)
    code, output = run("audit", "archive", "--through", "2026-10")
    assert code == 0, output
    assert run("audit", "verify")[0] == 0
    assert run("audit", "verify", "--archive", str(tmp_path / "archive"))[0] == 0


def test_verify_since_a_checkpoint_at_the_archive_boundary(
    city: tuple[Ledger, list[str], Callable[..., tuple[int, str]]],
) -> None:
    from osmanthus.ledger import archived_months, verify_ledger
    from osmanthus.ledger.verification import snapshot

    ledger, _, run = city
    assert run("audit", "archive", "--through", "2026-10")[0] == 0
    with snapshot(ledger.engine) as conn:
        newest = archived_months(conn)[-1]
    checked = verify_ledger(ledger.engine, since=(newest.last, newest.hash, newest.floors))
    assert checked.head.seq > newest.last
    with pytest.raises(Exception, match="rewritten"):
        verify_ledger(ledger.engine, since=(newest.last, "0" * 64, newest.floors))


def test_a_temporary_table_does_not_open_the_delete_guard(
    city: tuple[Ledger, list[str], Callable[..., tuple[int, str]]],
) -> None:
    """Found in review (PostgreSQL): a session's temporary ``audit_archives`` came first
    on the trigger function's search path; the path is now pinned (SQLite resolves a
    trigger's tables in the trigger's own database)."""
    ledger, _, _ = city
    with (
        pytest.raises(sa.exc.DBAPIError, match=r"only an archived entry|append-only"),
        ledger.engine.begin() as conn,
    ):
        conn.execute(sa.text("CREATE TEMP TABLE audit_archives (first_seq int, last_seq int)"))
        conn.execute(sa.text("INSERT INTO audit_archives VALUES (1, 1000000)"))
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)"))
