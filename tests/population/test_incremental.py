"""Incremental runs equal full runs.

Each example draws a generated population (the parity suite's), lets its rows reach the
lake in up to three exports (each row in a random one), and scores it on a sequence of
dates around its events, twice: a chain of runs that continue from each other whenever
they can (the default), and a chain of full runs. After every step both chains must
hold the same result for every resident (every column, the next change included) and
the same statistics (the change since the previous run included).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from population_data import Person, append_export, lake_tables
from test_parity import Population, populations, version_spec

from osmanthus.ledger import Subject
from osmanthus.policy import PolicySet, PolicyVersion
from osmanthus.population.lake import Lake
from osmanthus.population.runs import RunResult, score_population
from osmanthus.population.scores import scores_view
from strategies import LEGAL_BASIS, PROPERTY, stored

STEPS = (0, 1, 7, 30, 90, 400)


def results(run: RunResult) -> dict[int, dict[str, Any]]:
    con = duckdb.connect()
    try:
        scores_view(con, "s", run.folder)
        rows = con.sql("SELECT * FROM s").to_arrow_table().to_pylist()
        parts = con.sql(
            "SELECT resident_id, department, points, gained, lost FROM s_contributions ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    by_resident: dict[int, list[tuple[Any, ...]]] = {}
    for resident, *part in parts:
        by_resident.setdefault(resident, []).append(tuple(part))
    found = {}
    for row in rows:
        row["contributions"] = by_resident.get(row["resident_id"], [])
        found[row.pop("resident_id")] = row
    assert len(found) == len(rows), "one row per resident"
    return found


def stats(run: RunResult) -> dict[str, Any]:
    found = dict(run.stats)
    if found["change"]:
        found["change"] = {k: v for k, v in found["change"].items() if k != "previous_run"}
    return found


def check_chains(pop: Population, data: st.DataObject, engine: str, **options: Any) -> None:
    tables = lake_tables(pop.people)
    exports = data.draw(st.integers(1, 3), label="exports")
    arrival = {
        name: data.draw(
            st.lists(st.integers(0, exports - 1), min_size=t.num_rows, max_size=t.num_rows),
            label=f"export of each {name} row",
        )
        for name, t in tables.items()
    }
    day = pop.as_of + dt.timedelta(days=data.draw(st.sampled_from([-30, -1, 0, 1])))
    day = max(day, pop.policy.versions[0].effective)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "lake").mkdir()
        lake = Lake.open(root / "lake", create=True, buckets=pop.buckets)
        for step in range(3):
            if step < exports:
                append_export(
                    lake,
                    {
                        name: t.filter(pa.array([a == step for a in arrival[name]], pa.bool_()))
                        for name, t in tables.items()
                    },
                )
            else:
                day += dt.timedelta(days=data.draw(st.sampled_from(STEPS), label="days later"))
            chain = score_population(
                root / "lake", pop.policy, root / "chain", as_of=day, engine=engine, **options
            )
            full = score_population(root / "lake", pop.policy, root / "full", as_of=day, full=True)
            event(f"{engine}: {'full: ' + chain.full if chain.full else 'continued'}")
            assert results(chain) == results(full), f"step {step}, {day}: {chain.full}"
            assert stats(chain) == stats(full), f"step {step}, {day}"
            if step < exports:  # the rows of later exports may be dated before this day
                day += dt.timedelta(days=data.draw(st.sampled_from(STEPS), label="days later"))


@settings(PROPERTY, max_examples=int(os.environ.get("INCR_EXAMPLES", "20")))
@given(pop=populations(), data=st.data())
def test_incremental_duckdb_runs_equal_full_runs(pop: Population, data: st.DataObject) -> None:
    check_chains(pop, data, "duckdb", threads=1)


@pytest.fixture(scope="module")
def spark() -> Sequence[str]:
    from osmanthus.population.engines import spark_session

    spark_session("local[2]")
    return ["local[2]"]


@settings(PROPERTY, max_examples=2)
@given(pop=populations(), data=st.data())
def test_incremental_spark_runs_equal_full_runs(
    spark: Sequence[str], pop: Population, data: st.DataObject
) -> None:
    check_chains(pop, data, "spark", master=spark[0])


# -- cases a review found -----------------------------------------------------------------


def _policy(metrics: dict[str, dict[str, Any]], **extra: Any) -> PolicySet:
    return PolicySet((PolicyVersion.model_validate(version_spec("v1", FIRST, metrics, **extra)),))


FIRST = dt.date(2018, 1, 1)
CLEAN = [{"name": "clean", "metrics": ["m0"], "clean_for": "1y", "legal_basis": LEGAL_BASIS}]


@pytest.mark.parametrize("later_record", [False, True])
def test_a_cleared_metric_that_ended_long_ago_needs_no_timeline(
    later_record: bool, tmp_path: Path
) -> None:
    """A record a clean-period clearance covers sent its resident to the step-by-step
    timeline as long as it was read, even ended; the prune filter stops reading it on a
    day no ``next_change`` names, so a full run then said "column path" where a run
    continuing said "reference" (with another record, from the snapshot's rows, which
    were pruned for the full run's date only)."""
    policy = _policy(
        {"m0": {"points": -5, "expiry": "30d"}, "other": {"points": -1, "expiry": "1y"}},
        clearances=CLEAN,
    )
    person = Person(1, Subject(), [stored(1, "m0", dt.date(2025, 1, 6))])
    (tmp_path / "lake").mkdir()
    lake = Lake.open(tmp_path / "lake", create=True, buckets=1)
    append_export(lake, lake_tables([person]))
    score_population(tmp_path / "lake", policy, tmp_path / "chain", as_of=dt.date(2025, 2, 5))
    if later_record:
        person.records.append(stored(2, "other", dt.date(2025, 2, 20)))
        new = lake_tables([person])["records"].slice(1)  # the new record only
        append_export(lake, {**lake_tables([]), "records": new})
    day = dt.date(2025, 3, 1)
    chain = score_population(tmp_path / "lake", policy, tmp_path / "chain", as_of=day)
    full = score_population(tmp_path / "lake", policy, tmp_path / "full", as_of=day, full=True)
    assert chain.full is None and chain.rescored == (1 if later_record else 0)
    assert results(chain) == results(full)
    assert stats(chain) | {"change": None} == stats(full)  # the full run is a first run


def test_a_lake_removed_and_exported_again_is_another_lake(tmp_path: Path) -> None:
    """A lake removed and written again starts again from export 1: the run after it must
    not take its rows for rows it has seen."""
    policy = _policy({"m0": {"points": -5, "expiry": "1y"}})
    first = Person(1, Subject(), [stored(1, "m0", dt.date(2025, 1, 6))])
    again = Person(1, Subject(), [*first.records, stored(2, "m0", dt.date(2025, 2, 1))])
    day = dt.date(2025, 2, 5)
    for people in ([first], [again]):
        shutil.rmtree(tmp_path / "lake", ignore_errors=True)
        (tmp_path / "lake").mkdir()
        append_export(Lake.open(tmp_path / "lake", create=True, buckets=1), lake_tables(people))
        run = score_population(tmp_path / "lake", policy, tmp_path / "runs", as_of=day)
    full = score_population(tmp_path / "lake", policy, tmp_path / "full", as_of=day, full=True)
    assert run.full == "the lake is another one"
    assert results(run) == results(full) and results(run)[1]["score"] == 90
