"""The prune rule's two renderings keep the same rows: its SQL (Spark, DuckDB queries)
evaluated by DuckDB, and its NumPy mask (the DuckDB engine's full run), on records of
generated policies with every awkward value a lake can hold (nulls, unknown metrics and
severities, corrections, dates on the rule's own bounds)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osmanthus.population.compiled import Compiled
from osmanthus.population.prune import PruneRule, SeverityRefusal, prune_rule
from strategies import PROPERTY, SIMPLE, scenarios


def rule_dates(rule: PruneRule) -> list[dt.date]:
    found = [rule.earliest, *rule.cut.values(), *rule.known.values()]
    found += [d for r in rule.refused for d in (r.start, r.end) if d is not None]
    return found


@st.composite
def record_tables(draw: st.DrawFn, rule: PruneRule, codes: list[str]) -> pa.Table:
    classes = sorted({c for r in rule.refused for c in r.classes})
    around = [d + dt.timedelta(days=k) for d in rule_dates(rule) for k in (-1, 0, 1)]
    day = st.one_of(
        st.none(),
        st.sampled_from(around),
        st.dates(dt.date(2015, 1, 1), dt.date(2030, 12, 31)),
    )
    rows = draw(
        st.lists(
            st.tuples(
                st.none() | st.sampled_from([*codes, "unknown_metric"]),
                day,
                st.none() | st.sampled_from([*classes, "other_class"]),
                st.none() | st.sampled_from(["original", "correction", "retraction", "repair"]),
                st.none() | st.just("INC-1"),
                st.none() | st.integers(1, 9),
            ),
            min_size=1,
            max_size=40,
        )
    )
    metric, act, severity, kind, incident, supersedes = zip(*rows, strict=True)
    text = pa.dictionary(pa.int32(), pa.string())
    return pa.table(
        {
            "metric": pa.array(metric, pa.string()).cast(text),
            "act_date": pa.array(act, pa.date32()),
            "severity": pa.array(severity, pa.string()).cast(text),
            "kind": pa.array(kind, pa.string()).cast(text),
            "incident_ref": pa.array(incident, pa.string()),
            "supersedes_id": pa.array(supersedes, pa.int64()),
        }
    )


def by_sql(rule: PruneRule, records: pa.Table) -> list[bool]:
    con = duckdb.connect()
    con.register("records", records)
    found = con.sql(f"SELECT coalesce({rule.sql()}, false) FROM records").fetchall()
    return [bool(row[0]) for row in found]


@settings(PROPERTY, max_examples=60)
@given(data=st.data())
def test_the_mask_keeps_the_rows_the_sql_keeps(data: st.DataObject) -> None:
    scenario = data.draw(scenarios(dataclasses.replace(SIMPLE, straddle=data.draw(st.booleans()))))
    rule = prune_rule(Compiled.build(scenario.policy, scenario.as_of))
    if rule is None:
        return
    codes = sorted({code for v in scenario.policy.versions for code in v.metrics})
    records = data.draw(record_tables(rule, codes))
    assert rule.mask(records).tolist() == by_sql(rule, records)


REFUSALS = PruneRule(
    cut={"a": dt.date(2025, 1, 1), "b": dt.date(2024, 6, 1)},
    earliest=dt.date(2020, 1, 1),
    known={"b": dt.date(2022, 1, 1)},
    refused=(
        SeverityRefusal("a", None, None, ()),
        SeverityRefusal("b", None, dt.date(2023, 1, 1), ("minor",)),
        SeverityRefusal("b", dt.date(2023, 1, 1), None, ("grave", "minor")),
    ),
)


@pytest.mark.parametrize(
    ("row", "kept"),
    [
        (("a", dt.date(2024, 12, 31), None, "original"), False),  # before its cut
        (("a", dt.date(2025, 1, 1), None, "original"), True),  # on its cut
        (("a", dt.date(2024, 12, 31), "minor", "original"), True),  # a has no classes
        (("a", None, None, "original"), False),  # no act date: nothing to keep it
        (("a", None, "minor", "original"), True),  # refused whatever the date
        (("b", dt.date(2021, 12, 31), None, "original"), True),  # before b is known
        (("b", dt.date(2022, 6, 1), "grave", "original"), True),  # grave unknown then
        (("b", dt.date(2023, 6, 1), "grave", "original"), False),  # known by then
        (("b", dt.date(2023, 6, 1), None, "original"), True),  # classes, and none given
        (("c", dt.date(2016, 1, 1), None, "original"), True),  # before any metric's known
        (("c", dt.date(2021, 1, 1), None, "original"), True),  # no cut: kept
        (("a", dt.date(2021, 1, 1), None, "correction"), True),
        (("a", dt.date(2021, 1, 1), None, None), False),  # a null kind is not "<> original"
        ((None, dt.date(2021, 1, 1), None, "original"), True),  # CASE NULL: the ELSE
    ],
)
def test_each_part_of_the_rule(row: tuple[object, ...], kept: bool) -> None:
    metric, act, severity, kind = row
    text = pa.dictionary(pa.int32(), pa.string())
    records = pa.table(
        {
            "metric": pa.array([metric], pa.string()).cast(text),
            "act_date": pa.array([act], pa.date32()),
            "severity": pa.array([severity], pa.string()).cast(text),
            "kind": pa.array([kind], pa.string()).cast(text),
            "incident_ref": pa.nulls(1, pa.string()),
            "supersedes_id": pa.nulls(1, pa.int64()),
        }
    )
    assert by_sql(REFUSALS, records) == [kept]
    assert REFUSALS.mask(records).tolist() == [kept]
    assert isinstance(REFUSALS.mask(records), np.ndarray)
