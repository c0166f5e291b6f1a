"""A full run's snapshot: the residents whose next change has come, found by the day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from osmanthus.population.result import RESULT_SCHEMA
from osmanthus.population.snapshot import due_in_results, write_due

DAY = dt.date(2026, 3, 1)


def results(days: dict[int, dt.date | None]) -> pa.Table:
    rows = [
        {
            "resident_id": resident,
            "district": "gusu",
            "birth_year": 1980,
            "score": 100,
            "grade": None,
            "measure": None,
            "measures": 0,
            "perks": 0,
            "reference": False,
            "contributions": [],
            "next_change": day,
        }
        for resident, day in days.items()
    ]
    return pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)


def test_residents_are_due_on_their_day_and_after_it_never_before(tmp_path: Path) -> None:
    before, on, after = DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1)
    groups = [
        results({1: after, 2: on, 3: None}),
        results({4: before, 5: dt.date(9999, 12, 31), 6: on}),
    ]
    write_due(tmp_path, [g.select(["next_change", "resident_id"]) for g in groups])
    assert sorted(due_in_results(tmp_path, DAY).tolist()) == [2, 4, 6]
    assert sorted(due_in_results(tmp_path, before).tolist()) == [4]
    assert due_in_results(tmp_path, DAY - dt.timedelta(days=2)).tolist() == []
    assert sorted(due_in_results(tmp_path, after).tolist()) == [1, 2, 4, 6]


def test_a_snapshot_without_a_resident_due_ever(tmp_path: Path) -> None:
    write_due(tmp_path, [])
    assert due_in_results(tmp_path, DAY).tolist() == []
