"""The compiled policy tables: the period lookups shared by the engine's threads."""

from __future__ import annotations

import datetime as dt
import sys
import threading
from types import FrameType
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from osmanthus.policy.duration import Period
from osmanthus.population.compiled import NEVER, PeriodEnds, days, from_days, period_after


def test_a_lookup_during_a_rebuild_in_another_thread_is_right() -> None:
    """One Compiled is shared by the DuckDB engine's threads: while one thread widens a
    period table, a lookup in another must never pair the new table with the old first
    day. The building thread is stopped at every line it runs in ``PeriodEnds`` and a
    lookup is made from this thread each time (the GIL seldom switches there by itself)."""
    period = Period(1, "m")
    table = PeriodEnds()
    index = table.add(period)
    probe = np.arange(days(dt.date(2024, 1, 1)), days(dt.date(2024, 3, 1)), dtype=np.int32)
    want = np.array([days(period.after(from_days(int(d)))) for d in probe], dtype=np.int32)
    rows = np.full(len(probe), index, dtype=np.int32)
    everywhere = np.ones(len(probe), dtype=bool)
    assert np.array_equal(table.after(rows, probe, everywhere), want)
    paused, resume = threading.Event(), threading.Event()
    finished, released = threading.Event(), threading.Event()
    code = {f.__code__ for f in vars(PeriodEnds).values() if hasattr(f, "__code__")}

    def line(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line" and not released.is_set():
            paused.set()
            resume.wait(10)
            resume.clear()
        return line

    def call(frame: FrameType, event: str, arg: Any) -> Any:
        return line if frame.f_code in code else None

    def widen() -> None:
        sys.settrace(call)
        try:
            far = np.array([probe[0] - 5000, probe[-1] + 5000], dtype=np.int32)
            table.after(rows[:2], far, everywhere[:2])
        finally:
            sys.settrace(None)
            finished.set()
            paused.set()

    builder = threading.Thread(target=widen)
    builder.start()
    stops = 0
    try:
        while True:
            assert paused.wait(10), "the building thread did not reach its next line"
            paused.clear()
            if finished.is_set():
                break
            stops += 1
            found = table.after(rows, probe, everywhere)
            assert np.array_equal(found, want), f"wrong days at stop {stops}"
            resume.set()
    finally:
        released.set()
        resume.set()
        builder.join(10)
    assert stops > 2
    assert np.array_equal(table.after(rows, probe, everywhere), want)


def test_each_row_takes_its_own_period_and_never_without_one() -> None:
    """Rows of several periods in one lookup: each its own period's end; a row without a
    period (-1: never ends; -2: the cycle's) or outside the mask never ends."""
    table = PeriodEnds()
    month, days_ = table.add(Period(1, "m")), table.add(Period(10, "d"))
    start = np.array([days(dt.date(2024, 1, 31))] * 5, dtype=np.int32)
    period = np.array([month, days_, -1, -2, month], dtype=np.int32)
    mask = np.array([True, True, True, True, False])
    found = table.after(period, start, mask).tolist()
    feb_end = days(Period(1, "m").after(dt.date(2024, 1, 31)))
    assert found == [feb_end, days(dt.date(2024, 2, 10)), NEVER, NEVER, NEVER]


def test_profile_facts_of_a_resident_not_read_reach_no_other_resident() -> None:
    """The lake may hold facts of a resident whose own row is not read (not yet exported,
    or registered after "known at"): they once went to the next resident in the bucket,
    whose cycle then started from the wrong licence date (found by the incremental-run
    suite)."""
    import pyarrow as pa

    from osmanthus.population.columns import SubjectLookup

    residents = pa.table({"id": pa.array([3], pa.int64()), "birth_year": pa.array([1970])})
    profiles = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "resident_id": pa.array([3, 1], pa.int64()),
            "attribute": ["licence", "licence"],
            "value": pa.array([dt.date(2018, 1, 1), dt.date(2019, 1, 1)], pa.date32()),
        }
    )
    subjects = SubjectLookup(np.array([3], dtype=np.int64), residents, profiles)
    assert subjects[0].profile == {"licence": dt.date(2018, 1, 1)}


def test_a_lookup_of_a_few_rows_among_many_looks_up_only_those() -> None:
    """Mostly rows without a period (a repair tier's dates, say): the few looked up alone
    give the same days as in a full lookup, and every other row never ends."""
    table = PeriodEnds()
    month = table.add(Period(1, "m"))
    start = np.full(10, days(dt.date(2024, 1, 31)), dtype=np.int32)
    start[3] = days(dt.date(1950, 5, 1))  # far outside the rows looked up
    period = np.full(10, -1, dtype=np.int32)
    period[7] = month
    found = table.after(period, start, np.ones(10, dtype=bool)).tolist()
    want = days(Period(1, "m").after(dt.date(2024, 1, 31)))
    assert found == [NEVER] * 7 + [want] + [NEVER] * 2


def test_a_far_date_on_a_row_not_looked_up_is_ignored() -> None:
    """Rows that do not count (a record a correction replaced, typed 9999-12-30; a
    retraction) are not looked up, and their dates must not size the table: near
    ``date.max`` the table could not be built at all (found by a review)."""
    table = PeriodEnds()
    month = table.add(Period(1, "m"))
    start = np.full(6, days(dt.date(2026, 1, 5)), dtype=np.int32)
    start[5] = days(dt.date(9999, 12, 30))
    start[4] = np.iinfo(np.int32).min  # what a null date becomes
    period = np.full(6, month, dtype=np.int32)
    mask = np.array([True, True, True, True, False, False])
    found = table.after(period, start, mask).tolist()
    want = days(dt.date(2026, 2, 5))
    assert found == [want] * 4 + [NEVER, NEVER]


@settings(max_examples=60, deadline=None)
@given(
    unit=st.sampled_from(["d", "m", "y"]),
    amount=st.integers(1, 150),
    first=st.dates(dt.date(1800, 1, 1), dt.date(2300, 1, 1)),
)
def test_the_period_table_is_period_after_on_every_day(
    unit: str, amount: int, first: dt.date
) -> None:
    """The table's calendar arithmetic on whole arrays against ``Period.after`` itself,
    day by day over four years from a generated day (leap days, month ends, December)."""
    period = Period(amount, unit)
    span = np.arange(days(first), days(first) + 4 * 366, dtype=np.int64)
    want = [days(period.after(from_days(d))) for d in span.tolist()]
    assert period_after(period, span).tolist() == want
