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
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from population_data import append_export, lake_tables
from test_parity import Population, populations

from osmanthus.population.lake import Lake
from osmanthus.population.runs import RunResult, score_population
from osmanthus.population.scores import scores_view
from strategies import PROPERTY

STEPS = (0, 1, 7, 30, 90, 400)


def results(run: RunResult) -> dict[int, dict[str, Any]]:
    con = duckdb.connect()
    try:
        scores_view(con, "s", run.folder)
        rows = con.sql("SELECT * FROM s").to_arrow_table().to_pylist()
    finally:
        con.close()
    found = {}
    for row in rows:
        # in the order the run wrote them: by department, whichever path scored them
        row["contributions"] = [
            (c["department"], c["points"], c["gained"], c["lost"]) for c in row["contributions"]
        ]
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


@settings(PROPERTY, max_examples=int(os.environ.get("INCR_EXAMPLES", "30")))
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
