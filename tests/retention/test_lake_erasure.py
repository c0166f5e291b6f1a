"""Erasures reach the Parquet lake (SQLite and PostgreSQL): the next export writes the
buckets an erasure touched again from the ledger, so an erased person's references,
district and birth year are gone from every lake file too, and the files they were in
are deleted; a population run reads the lake as it now is."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from tests.factories import OPERATOR, make_id

from osmanthus.core import Actor, NewRecord
from osmanthus.ledger import Ledger
from osmanthus.ledger.erasure import erase_resident, retire_records
from osmanthus.population.export import export_ledger
from osmanthus.population.lake import TABLES, Lake
from osmanthus.population.runs import run_population

REGISTRY = Actor("operator", "civil-registry")


def _person(ledger: Ledger, make_record: Callable[..., NewRecord], sequence: int) -> dict:
    number = make_id(sequence=sequence)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    refs = [f"LAKE-SECRET-{sequence}-{k}" for k in range(3)]
    ids = [
        ledger.append_record(
            make_record(
                national_id=number,
                act_date=dt.date(2026, 6, 1 + k),
                decision_date=dt.date(2026, 6, 1 + k),
                source_ref=ref,
                incident_ref=f"LAKE-INCIDENT-{sequence}-{k}",
            ),
            actor=OPERATOR,
        )
        for k, ref in enumerate(refs)
    ]
    return {"name": ledger.pseudonym_of(number), "ids": ids, "refs": refs}


def _rows(lake_dir: Path, table: str) -> list[dict[str, Any]]:
    lake = Lake.open(lake_dir)
    return [row for path in lake.paths(table) for row in pq.read_table(path).to_pylist()]


def _anywhere(lake_dir: Path, needle: str) -> list[str]:
    """Every lake file holding ``needle`` in any column (files listed or not)."""
    found = []
    for path in sorted(lake_dir.rglob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            if any(needle in str(value) for value in row.values()):
                found.append(str(path.relative_to(lake_dir)))
                break
    return found


def test_an_erasure_reaches_the_lake_at_the_next_export(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> None:
    lake_dir = tmp_path / "population" / "lake"
    gone = _person(ledger, make_record, 91)
    kept = _person(ledger, make_record, 92)
    others = [_person(ledger, make_record, 93 + k) for k in range(4)]
    export_ledger(ledger.engine, lake_dir, actor=OPERATOR, buckets=4)
    assert _anywhere(lake_dir, gone["refs"][0]) and _anywhere(lake_dir, "LAKE-INCIDENT-91")
    with ledger.engine.connect() as conn:
        gone_id = conn.exec_driver_sql(
            "SELECT id FROM residents WHERE pseudonym = %s"
            if ledger.engine.dialect.name == "postgresql"
            else "SELECT id FROM residents WHERE pseudonym = ?",
            (gone["name"],),
        ).scalar_one()

    erase_resident(ledger.engine, gone_id, actor=REGISTRY, purpose="death + 1 year")
    retire_records(
        ledger.engine, [kept["ids"][2]], actor=REGISTRY, purpose="retention", now=ledger.now()
    )
    before = set(lake_dir.rglob("*.parquet"))
    result = export_ledger(ledger.engine, lake_dir, actor=OPERATOR)
    assert 1 <= result.rewritten <= 3  # the erased resident's, the retired record's, the holder's
    assert result.rows["records"] == 0  # no record is new: the rewritten ones are not counted

    for needle in (*gone["refs"], "LAKE-INCIDENT-91", kept["refs"][2], "LAKE-INCIDENT-92-2"):
        assert _anywhere(lake_dir, needle) == [], needle
    assert _anywhere(lake_dir, kept["refs"][1])  # what was not erased stays
    assert all(_anywhere(lake_dir, o["refs"][0]) for o in others)
    (tombstone,) = [r for r in _rows(lake_dir, "residents") if r["id"] == gone_id]
    assert tombstone["district"] == "" and tombstone["birth_year"] == 0
    mine = [r for r in _rows(lake_dir, "records") if r["resident_id"] == gone_id]
    assert len(mine) == 3 and all(r["source_ref"].startswith("erased") for r in mine)
    retired = [r for r in _rows(lake_dir, "records") if r["id"] == kept["ids"][2]]
    assert len(retired) == 1 and retired[0]["resident_id"] not in (gone_id,)
    # the manifest counts what the files hold, each row once, and the replaced files
    # are deleted
    lake = Lake.open(lake_dir)
    for table in TABLES:
        ids = [r["id"] for r in _rows(lake_dir, table)]
        assert len(ids) == len(set(ids)) == lake.rows[table], table
    listed = {lake_dir / name for names in lake.files.values() for name in names}
    assert set(lake_dir.rglob("*.parquet")) == listed
    assert before - listed  # some files were replaced
    assert json.loads((lake_dir / "manifest.json").read_text())["erasures"] > 0
    # nothing more to take in: the next export writes new rows only
    again = export_ledger(ledger.engine, lake_dir, actor=OPERATOR)
    assert sum(again.rows.values()) == 0
    result = run_population(
        ledger, tmp_path / "population", as_of=dt.date(2026, 7, 1), actor=OPERATOR
    )
    assert result.stats["residents"] >= 6


def test_an_erasure_deletes_the_runs_copies_of_the_lake(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> None:
    """A full run keeps the rows it read in its snapshot (docs/population.md); the export
    that takes an erasure in deletes every run's snapshot, so no copy of the erased rows
    stays, and the next run scores everyone."""
    import pyarrow as pa

    population = tmp_path / "population"
    gone = _person(ledger, make_record, 81)
    others = [_person(ledger, make_record, 82 + k) for k in range(3)]
    day = dt.date(2026, 7, 1)
    first = run_population(ledger, population, as_of=day, actor=OPERATOR)
    snapshots = sorted((first.folder / "snapshot").rglob("*.arrow"))

    def holding(needle: str) -> list[Path]:
        return [
            path
            for path in sorted(population.glob("runs/*/snapshot/**/*.arrow"))
            if needle in str(pa.ipc.open_file(pa.memory_map(str(path))).read_all().to_pylist())
        ]

    assert snapshots and holding("LAKE-INCIDENT-81")
    assert run_population(ledger, population, as_of=day, actor=OPERATOR).full is None
    with ledger.engine.connect() as conn:
        (gone_id,) = [
            row[0]
            for row in conn.exec_driver_sql("SELECT id, pseudonym FROM residents")
            if row[1] == gone["name"]
        ]
    erase_resident(ledger.engine, gone_id, actor=REGISTRY, purpose="death + 1 year")
    after = run_population(ledger, population, as_of=day, actor=OPERATOR)
    assert after.full == "rows were erased from the lake since"
    assert holding("LAKE-INCIDENT-81") == []
    assert holding(others[0]["refs"][0]) == []  # source refs are never kept
    assert (after.folder / "snapshot").is_dir()  # the new full run keeps its own
