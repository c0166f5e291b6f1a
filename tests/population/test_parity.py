"""Parity: the reference scorer, the DuckDB engine and the Spark engine agree on every
resident, on generated policies and populations.

A population draws one generated scenario (tests/strategies.py: policies with versions,
caps, cycles, reductions, measures, repair tiers, corrections and retractions, edge
dates) and gives it to up to six residents: the first has all its records, the others
random subsets, with their own record ids, their own recording times, now and then no
cycle anchor, and suspensions of some records (a dispute not answered in time) that
start, or are lifted, around the scoring date. The lake is written by the lake's own
writer in 1 to 3 buckets, so residents share buckets, and 1 to 3 exports, so a bucket's
records come in several files; the scoring date and the "known at" time vary. For every
resident the engine must give the reference scorer's score, grade, last staged measure,
number of measures, perks and per-department counted points (net, gained and lost).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from population_data import Person, write_lake

from osmanthus.core import Suspension, suspended_records
from osmanthus.errors import OsmanthusError
from osmanthus.ledger import Subject
from osmanthus.policy import PolicySet, PolicyVersion
from osmanthus.population.compiled import Compiled
from osmanthus.population.engines import run_duckdb, run_spark
from osmanthus.population.prune import prune_sql
from osmanthus.population.result import read_results
from osmanthus.scoring import explain
from strategies import (
    DEPARTMENT,
    LEGAL_BASIS,
    PROPERTY,
    SIMPLE,
    Shape,
    base_metric,
    negative_value_scenarios,
    scenarios,
    stored,
)

TIMES = (
    dt.datetime(2029, 6, 1, tzinfo=dt.UTC),
    dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2030, 6, 1, 12, tzinfo=dt.UTC),
)


@dataclass(frozen=True)
class Population:
    policy: PolicySet
    people: tuple[Person, ...]
    as_of: dt.date
    known_at: dt.datetime | None
    buckets: int
    exports: int = 1


@st.composite
def populations(
    draw: st.DrawFn,
    shape: Shape | None = None,
    *,
    negative: bool = False,
    suspensions: float = 0.25,
    repairs: float = 0.1,
    corrections: float = 0.2,
) -> Population:
    """Residents sharing one generated scenario (``negative``: per-unit values below 0;
    ``suspensions``: the share of records with suspension facts, set aside or counting
    again from days around the scoring date, recorded at times around "known at";
    ``repairs``: the share of records repaired (a ``repair`` row ending them on a day
    around the scoring date or their act date), one in three of those twice;
    ``corrections``: the share of profile facts corrected (a later fact of the same
    attribute, shifted by days to a year either way, recorded at times around "known
    at"), as an upheld profile dispute writes them)."""
    source = negative_value_scenarios if negative else scenarios
    scn = draw(source(shape or Shape()))
    people = []
    facts = 0
    for r in range(draw(st.integers(1, 6))):
        chosen = list(scn.records)
        if r:
            keep = draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
            chosen = [record for record, kept in zip(chosen, keep, strict=True) if kept]
        profile = scn.subject.profile if r == 0 or draw(st.booleans()) else {}
        records = [
            dataclasses.replace(
                record,
                id=record.id + 1000 * r,
                supersedes_id=None
                if record.supersedes_id is None
                else record.supersedes_id + 1000 * r,
                recorded_at=draw(st.sampled_from(TIMES)),
            )
            for record in chosen
        ]
        days = (-30, -1, 0, 1)
        repaired = []
        for record in records:
            if record.kind == "retraction" or draw(st.floats(0, 1)) >= repairs:
                continue
            for _ in range(draw(st.sampled_from([1, 1, 2]))):
                granted = scn.as_of + dt.timedelta(days=draw(st.sampled_from(days)))
                granted = max(granted, record.act_date)  # a repair follows its record
                repaired.append(
                    dataclasses.replace(
                        stored(
                            800 + len(repaired) + 1000 * r,
                            record.metric,
                            draw(st.sampled_from([granted, record.act_date])),
                            kind="repair",
                            supersedes=record.id,
                        ),
                        department=record.department,
                        recorded_at=draw(st.sampled_from(TIMES)),
                    )
                )
        records += repaired
        suspended = []
        for record in records:
            if draw(st.floats(0, 1)) >= suspensions:
                continue
            for _ in range(draw(st.integers(1, 3))):
                facts += 1
                starts = scn.as_of + dt.timedelta(days=draw(st.sampled_from(days)))
                suspended.append(
                    Suspension(
                        id=facts,
                        record_id=record.id,
                        starts=draw(st.sampled_from([starts, record.act_date])),
                        lifted=draw(st.booleans()),
                        recorded_at=draw(st.sampled_from(TIMES)),
                    )
                )
        subject = Subject(birth_year=1970, profile=profile, suspensions=tuple(suspended))
        fixed = []
        for attribute, value in sorted(profile.items()):
            if draw(st.floats(0, 1)) < corrections:
                shift = draw(st.sampled_from([-365, -30, -1, 1, 30, 365]))
                at = draw(st.sampled_from(TIMES))
                fixed.append((attribute, value + dt.timedelta(days=shift), at))
        fixed.sort(key=lambda c: c[2])  # recorded in time order, as the ledger would
        people.append(Person(id=r + 1, subject=subject, records=records, corrections=fixed))
    known_at = draw(st.none() | st.sampled_from(TIMES))
    buckets, exports = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return Population(scn.policy, tuple(people), scn.as_of, known_at, buckets, exports)


def expected(pop: Population, person: Person) -> dict[str, Any]:
    result = explain(
        person.records,
        pop.policy,
        pop.as_of,
        known_at=pop.known_at,
        subject=person.known_subject(pop.known_at),
    )
    by_department: dict[str, tuple[int, int, int]] = {}  # net, gained, lost
    for line in result.lines:
        if line.status == "counted":
            net, gained, lost = by_department.get(line.record.department, (0, 0, 0))
            points = line.counted
            by_department[line.record.department] = (
                net + points,
                gained + max(points, 0),
                lost + min(points, 0),
            )
    return {
        "score": result.score,
        "grade": result.grade,
        "measure": result.measures[-1].name if result.measures else None,
        "measures": len(result.measures),
        "perks": sum(1 << bit for bit, perk in enumerate(result.perks) if perk.eligible),
        "contributions": sorted((d, *sums) for d, sums in by_department.items()),
    }


def engine_results(
    pop: Population, run: Callable[..., None], **options: Any
) -> dict[int, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        lake = write_lake(Path(folder) / "lake", pop.people, pop.buckets, pop.exports)
        out = Path(folder) / "run"
        run(lake, Compiled.build(pop.policy, pop.as_of), pop.known_at, out, **options)
        table = read_results(out)
    found = {}
    for row in table.to_pylist():
        row["contributions"] = sorted(
            (c["department"], c["points"], c["gained"], c["lost"]) for c in row["contributions"]
        )
        found[row["resident_id"]] = row
    return found


def assert_parity(pop: Population, found: dict[int, dict[str, Any]]) -> list[bool]:
    assert sorted(found) == [p.id for p in pop.people]
    paths = []
    for person in pop.people:
        want = expected(pop, person)
        got = {key: found[person.id][key] for key in want}
        assert got == want, f"resident {person.id} ({len(person.records)} records)"
        paths.append(found[person.id]["reference"])
    return paths


@PROPERTY
@given(pop=populations())
def test_duckdb_engine_agrees_with_the_reference_scorer(pop: Population) -> None:
    assert_parity(pop, engine_results(pop, run_duckdb, threads=2))


@PROPERTY
@given(pop=populations(SIMPLE))
def test_without_sequential_rules_every_resident_takes_the_column_path(pop: Population) -> None:
    paths = assert_parity(pop, engine_results(pop, run_duckdb, threads=1))
    assert not any(paths), "a resident fell back to the reference scorer"


@settings(PROPERTY, max_examples=30)  # four variants
@pytest.mark.parametrize("window", ["day", "month", "year", "lifetime"])
@given(data=st.data())
def test_calendar_caps_are_applied_on_the_column_path(window: str, data: st.DataObject) -> None:
    shape = dataclasses.replace(SIMPLE, caps=True, min_caps=1, window=window, yearly_limit=True)
    pop = data.draw(populations(shape))
    assert_parity(pop, engine_results(pop, run_duckdb, threads=1))


@settings(PROPERTY, max_examples=30)  # four variants
@pytest.mark.parametrize("window", ["day", "month", "year", "lifetime"])
@given(data=st.data())
def test_per_unit_values_below_zero_agree_with_calendar_caps(
    window: str, data: st.DataObject
) -> None:
    """Per-unit metrics whose values go below zero, so one metric gives gains and losses,
    under calendar caps on the column path (the prune filter is on)."""
    shape = dataclasses.replace(SIMPLE, caps=True, min_caps=1, window=window, yearly_limit=True)
    pop = data.draw(populations(shape, negative=True))
    assert_parity(pop, engine_results(pop, run_duckdb, threads=1))


@pytest.fixture(scope="module")
def spark() -> Sequence[str]:
    from osmanthus.population.engines import spark_session

    spark_session("local[2]")
    return ["local[2]"]


@settings(PROPERTY, max_examples=6)
@given(pop=populations())
def test_spark_engine_agrees_with_the_reference_scorer(
    spark: Sequence[str], pop: Population
) -> None:
    assert_parity(pop, engine_results(pop, run_spark, master=spark[0]))


# -- cases the prune filter once got wrong ----------------------------------------------

ENGINES = ["duckdb", "spark"]


def run_engine(pop: Population, engine: str, request: pytest.FixtureRequest) -> Any:
    if engine == "spark":
        master = request.getfixturevalue("spark")[0]
        return engine_results(pop, run_spark, master=master)
    return engine_results(pop, run_duckdb, threads=1)


def version_spec(
    version: str, effective: dt.date, metrics: dict[str, dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """A one-department version on a wide scale (final clamp) with these metrics."""
    return {
        "name": "prop",
        "version": version,
        "title": "Regression policy",
        "effective": effective,
        "scale": {"baseline": 100, "floor": -1000, "ceiling": 1000, "clamp": "final"},
        "limits": {"max_penalty_per_record": 30},
        "departments": {DEPARTMENT: {"name": "Registry"}},
        "metrics": {code: base_metric(code) | spec for code, spec in metrics.items()},
        **extra,
    }


HOURS = {"points_per_unit": "1", "unit": "hour", "min_value": -10, "max_value": 10}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_per_unit_metric_with_negative_values_keeps_its_rows_for_a_loss_cap(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """points_per_unit is positive, but values down to -10 make losses: an expired loss
    early in the year uses up the yearly loss cap, so a later loss is held back. The
    expired row must be read although the metric's points per unit are positive."""
    cap = {"name": "loss", "window": "year", "metrics": ["m0"], "max_loss": 5}
    spec = version_spec(
        "v1",
        dt.date(2018, 1, 1),
        {"m0": HOURS | {"expiry": "30d"}},
        caps=[cap | {"legal_basis": LEGAL_BASIS}],
    )
    policy = PolicySet((PolicyVersion.model_validate(spec),))
    records = [
        stored(1, "m0", dt.date(2026, 1, 10), value=-5.0),  # expired; used the cap up
        stored(2, "m0", dt.date(2026, 6, 10), value=-3.0),  # counts 0: held back
    ]
    pop = Population(policy, (Person(1, Subject(), records),), dt.date(2026, 6, 15), None, 1)
    assert prune_sql(Compiled.build(policy, pop.as_of)) is not None  # pruning is on
    assert expected(pop, pop.people[0])["score"] == 100
    assert_parity(pop, run_engine(pop, engine, request))


FIVE = {"points": -5, "expiry": "30d"}
UNKNOWN = {  # versions (effective, metrics) and the one record, acted on a day it is unknown
    "before the first version defining it": (
        [(dt.date(2018, 1, 1), {"m0": FIVE}), (dt.date(2021, 1, 1), {"m0": FIVE, "m1": FIVE})],
        stored(1, "m1", dt.date(2019, 6, 1)),
    ),
    "after a version dropped it": (
        [(dt.date(2018, 1, 1), {"m0": FIVE, "m1": FIVE}), (dt.date(2021, 1, 1), {"m0": FIVE})],
        stored(1, "m1", dt.date(2022, 3, 1)),
    ),
    "before any version": (
        [(dt.date(2018, 1, 1), {"m0": FIVE})],
        stored(1, "m0", dt.date(2017, 6, 1)),
    ),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(UNKNOWN))
def test_a_record_the_policy_does_not_know_on_its_act_date_is_never_pruned(
    case: str, engine: str, request: pytest.FixtureRequest
) -> None:
    """The reference scorer refuses a record whose metric the version in force on its act
    date does not define, however old: so must the engines, which means the prune filter
    may not hide it."""
    specs, record = UNKNOWN[case]
    policy = PolicySet(
        tuple(
            PolicyVersion.model_validate(version_spec(f"v{i + 1}", effective, metrics))
            for i, (effective, metrics) in enumerate(specs)
        )
    )
    pop = Population(policy, (Person(1, Subject(), [record]),), dt.date(2026, 6, 15), None, 1)
    assert prune_sql(Compiled.build(policy, pop.as_of)) is not None  # pruning is on
    with pytest.raises(OsmanthusError):
        expected(pop, pop.people[0])
    with pytest.raises(OsmanthusError):
        run_engine(pop, engine, request)


MINOR = {"minor": {"points": -5, "expiry": "30d"}}
GRAVE = {"grave": {"points": -20, "expiry": "60d"}}
BAD_SEVERITY = {  # versions (effective, m0's spec) and the one record, whose severity the
    # version in force on its act date refuses
    "a class the metric does not have": (
        [(dt.date(2018, 1, 1), {"severity": MINOR})],
        stored(1, "m0", dt.date(2019, 6, 1), severity="grave"),
    ),
    "a class only a later version has": (
        [
            (dt.date(2018, 1, 1), {"severity": MINOR}),
            (dt.date(2021, 1, 1), {"severity": MINOR | GRAVE}),
        ],
        stored(1, "m0", dt.date(2019, 6, 1), severity="grave"),
    ),
    "a class a later version dropped": (
        [
            (dt.date(2018, 1, 1), {"severity": MINOR | GRAVE}),
            (dt.date(2021, 1, 1), {"severity": MINOR}),
        ],
        stored(1, "m0", dt.date(2022, 3, 1), severity="grave"),
    ),
    "no class on a metric with classes": (
        [(dt.date(2018, 1, 1), {"severity": MINOR})],
        stored(1, "m0", dt.date(2019, 6, 1)),
    ),
    "a class on a metric without classes": (
        [(dt.date(2018, 1, 1), FIVE)],
        stored(1, "m0", dt.date(2019, 6, 1), severity="minor"),
    ),
    "a class on a metric that had none before": (
        [(dt.date(2018, 1, 1), FIVE), (dt.date(2021, 1, 1), {"severity": MINOR})],
        stored(1, "m0", dt.date(2019, 6, 1), severity="minor"),
    ),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(BAD_SEVERITY))
def test_a_record_whose_severity_its_version_refuses_is_never_pruned(
    case: str, engine: str, request: pytest.FixtureRequest
) -> None:
    """The reference scorer refuses a record whose severity (or lack of one) the version
    in force on its act date does not accept, however old: so must the engines, which
    means the prune filter may not hide it."""
    specs, record = BAD_SEVERITY[case]
    policy = PolicySet(
        tuple(
            PolicyVersion.model_validate(version_spec(f"v{i + 1}", effective, {"m0": spec}))
            for i, (effective, spec) in enumerate(specs)
        )
    )
    pop = Population(policy, (Person(1, Subject(), [record]),), dt.date(2026, 6, 15), None, 1)
    assert prune_sql(Compiled.build(policy, pop.as_of)) is not None  # pruning is on
    with pytest.raises(OsmanthusError):
        expected(pop, pop.people[0])
    with pytest.raises(OsmanthusError):
        run_engine(pop, engine, request)


# -- suspensions (a dispute not answered in time sets its record aside) ------------------


def _set_aside(pop: Population) -> int:
    """Records set aside on the scoring date, over all residents."""
    return sum(
        len(suspended_records(p.subject.suspensions, pop.as_of, pop.known_at)) for p in pop.people
    )


@settings(PROPERTY, max_examples=8)
@pytest.mark.parametrize("engine", ENGINES)
@given(data=st.data())
def test_suspensions_score_the_same_in_every_engine(
    engine: str, request: pytest.FixtureRequest, data: st.DataObject
) -> None:
    """Populations where most records have suspension facts, some lifted, some recorded
    after "known at": each engine reads them as the reference scorer does."""
    pop = data.draw(populations(suspensions=0.6))
    event(f"records set aside on the date: {min(_set_aside(pop), 3)}{'+' * (_set_aside(pop) > 2)}")
    assert_parity(pop, run_engine(pop, engine, request))


def _corrected(pop: Population) -> int:
    return sum(len(p.corrections) for p in pop.people)


@settings(PROPERTY, max_examples=4)
@pytest.mark.parametrize("engine", ENGINES)
@given(data=st.data())
def test_corrected_profiles_score_the_same_in_every_engine(
    engine: str, request: pytest.FixtureRequest, data: st.DataObject
) -> None:
    """Populations whose profile dates (cycle anchors, residence) were corrected by later
    facts, some recorded after "known at": each engine takes the newest fact known, as
    the ledger's reads do."""
    pop = data.draw(populations(suspensions=0.0, corrections=0.8))
    event(f"corrections: {min(_corrected(pop), 3)}{'+' * (_corrected(pop) > 2)}")
    assert_parity(pop, run_engine(pop, engine, request))


def _repaired(pop: Population) -> int:
    return sum(1 for p in pop.people for r in p.records if r.kind == "repair")


@settings(PROPERTY, max_examples=4)
@pytest.mark.parametrize("engine", ENGINES)
@given(data=st.data())
def test_repairs_score_the_same_in_every_engine(
    engine: str, request: pytest.FixtureRequest, data: st.DataObject
) -> None:
    """Populations where many records were repaired (granted on days around the scoring
    date, some recorded after "known at", some twice): each engine ends them as the
    reference scorer does."""
    pop = data.draw(populations(suspensions=0.1, repairs=0.6))
    event(f"repair rows: {min(_repaired(pop), 3)}{'+' * (_repaired(pop) > 2)}")
    assert_parity(pop, run_engine(pop, engine, request))


def test_a_suspended_record_counts_for_nothing_on_the_column_path_and_after_lifting_again() -> None:
    """One resident, one negative record, set aside from 2030-01-10 and counting again
    from 2030-01-20 (each fact recorded the day it starts): every date and "known at"
    gives the reference scorer's score in the DuckDB engine."""
    version = PolicyVersion.model_validate(
        version_spec(
            "1",
            dt.date(2029, 1, 1),
            {"fine": {"points": -10, "expiry": "1y"}},
        )
    )
    policy = PolicySet((version,))
    record = stored(1, "fine", dt.date(2029, 12, 1))
    facts = (
        Suspension(1, 1, dt.date(2030, 1, 10), False, dt.datetime(2030, 1, 10, tzinfo=dt.UTC)),
        Suspension(2, 1, dt.date(2030, 1, 20), True, dt.datetime(2030, 1, 20, tzinfo=dt.UTC)),
    )
    person = Person(id=1, subject=Subject(birth_year=1970, suspensions=facts), records=[record])
    seen = []
    for as_of, known_at in [
        (dt.date(2030, 1, 9), None),
        (dt.date(2030, 1, 15), None),
        (dt.date(2030, 1, 15), dt.datetime(2030, 1, 9, tzinfo=dt.UTC)),
        (dt.date(2030, 1, 20), None),
        (dt.date(2030, 1, 25), dt.datetime(2030, 1, 15, tzinfo=dt.UTC)),
    ]:
        pop = Population(policy, (person,), as_of, known_at, 1)
        found = engine_results(pop, run_duckdb, threads=1)
        assert_parity(pop, found)
        seen.append(found[1]["score"])
    assert seen == [90, 100, 90, 90, 100]


def test_a_repaired_record_ends_on_the_grant_date_on_the_column_path() -> None:
    """One resident, one negative record repaired on 2030-01-10 (recorded that day):
    every date and "known at" gives the reference scorer's score in the DuckDB engine,
    on the column path."""
    version = PolicyVersion.model_validate(
        version_spec("1", dt.date(2029, 1, 1), {"fine": {"points": -10, "expiry": "1y"}})
    )
    policy = PolicySet((version,))
    record = stored(1, "fine", dt.date(2029, 12, 1))
    repair = dataclasses.replace(
        stored(2, "fine", dt.date(2030, 1, 10), kind="repair", supersedes=1),
        recorded_at=dt.datetime(2030, 1, 10, tzinfo=dt.UTC),
    )
    person = Person(id=1, subject=Subject(birth_year=1970), records=[record, repair])
    seen = []
    for as_of, known_at in [
        (dt.date(2030, 1, 9), None),
        (dt.date(2030, 1, 10), None),
        (dt.date(2030, 1, 15), dt.datetime(2030, 1, 9, tzinfo=dt.UTC)),
        (dt.date(2030, 1, 15), None),
    ]:
        pop = Population(policy, (person,), as_of, known_at, 1)
        found = engine_results(pop, run_duckdb, threads=1)
        assert_parity(pop, found)
        assert not found[1]["reference"]  # the column path, not the reference fallback
        seen.append(found[1]["score"])
    assert seen == [90, 100, 90, 100]


# -- the language's own ends: expiry "never" ----------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_a_never_expiring_gain_is_never_pruned_and_counts_on_the_column_path(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """A gain with ``expiry = "never"`` acted years before the scoring date still counts,
    on the column path, although the prune filter drops old rows of the metric that
    expires; a retraction ends it."""
    spec = version_spec(
        "v1",
        dt.date(2018, 1, 1),
        {"kept": {"points": 7, "expiry": "never"}, "fine": FIVE},
    )
    policy = PolicySet((PolicyVersion.model_validate(spec),))
    records = [
        stored(1, "kept", dt.date(2018, 2, 1)),
        stored(2, "fine", dt.date(2018, 2, 1)),  # long expired: pruned
        stored(3, "kept", dt.date(2019, 5, 1)),
        stored(4, "kept", dt.date(2019, 5, 1), kind="retraction", supersedes=3),
    ]
    pop = Population(policy, (Person(1, Subject(), records),), dt.date(2031, 6, 15), None, 1)
    compiled = Compiled.build(policy, pop.as_of)
    assert prune_sql(compiled) is not None and "'fine'" in (prune_sql(compiled) or "")
    assert "'kept'" not in (prune_sql(compiled) or "")  # never pruned
    found = run_engine(pop, engine, request)
    assert_parity(pop, found)
    assert found[1]["score"] == 107 and not found[1]["reference"]


# -- cap windows: lifetime ----------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_a_lifetime_cap_keeps_every_row_it_binds_and_applies_on_the_column_path(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """At most 8 points lost through 'fine' in a lifetime: a loss in 2019, long expired,
    used the cap up, so a loss in 2026 counts only 3. The prune filter must keep the old
    row (it would drop the unbound metric's old rows); the column path applies the cap."""
    cap = {"name": "ever", "window": "lifetime", "metrics": ["fine"], "max_loss": 8}
    spec = version_spec(
        "v1",
        dt.date(2018, 1, 1),
        {"fine": FIVE, "other": FIVE},
        caps=[cap | {"legal_basis": LEGAL_BASIS}],
    )
    policy = PolicySet((PolicyVersion.model_validate(spec),))
    records = [
        stored(1, "fine", dt.date(2019, 3, 1)),
        stored(2, "other", dt.date(2019, 3, 1)),
        stored(3, "fine", dt.date(2026, 6, 1)),
    ]
    pop = Population(policy, (Person(1, Subject(), records),), dt.date(2026, 6, 15), None, 1)
    prune = prune_sql(Compiled.build(policy, pop.as_of)) or ""
    assert "'other'" in prune and "'fine'" not in prune
    found = run_engine(pop, engine, request)
    assert_parity(pop, found)
    assert found[1]["score"] == 97 and not found[1]["reference"]


# -- forced grades: capped and set exactly ------------------------------------------------

GRADES = [
    {"name": "D", "below": 60},
    {"name": "C", "at_least": 60, "below": 100},
    {"name": "B", "at_least": 100, "at_most": 110},
    {"name": "A", "above": 110},
]


@pytest.mark.parametrize("engine", ENGINES)
def test_grades_set_exactly_and_capped_agree_on_the_column_path(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """Residents with grades set exactly (up and down), capped, both, and two sets: the
    column path gives the reference scorer's grade for each."""
    good = {"points": 30, "expiry": "1y"}
    bad = {"points": -30, "expiry": "1y"}
    metrics = {
        "good": good,
        "bad": bad,
        "plan": {"points": 1, "expiry": "1y", "forces_grade": "C", "forces_grade_mode": "set"},
        "mentor": {"points": 1, "expiry": "1y", "forces_grade": "B", "forces_grade_mode": "set"},
        "listed": {"points": -1, "expiry": "1y", "forces_grade": "D"},
    }
    scale = {"baseline": 100, "floor": 0, "ceiling": 200, "clamp": "final", "bands": GRADES}
    spec = version_spec("v1", dt.date(2018, 1, 1), metrics, scale=scale)
    policy = PolicySet((PolicyVersion.model_validate(spec),))
    day = dt.date(2026, 1, 10)
    people = []
    for number, codes in enumerate(
        [
            ["good", "plan"],  # 131: A set to C
            ["bad", "bad", "plan"],  # 41: D set to C
            ["bad", "bad", "plan", "listed"],  # 40: set to C, capped at D
            ["good", "mentor", "plan"],  # two sets: the worst, C
            ["good", "listed", "mentor"],  # set to B, capped at D
            ["good", "mentor"],  # B
        ],
        start=1,
    ):
        records = [stored(100 * number + k, code, day) for k, code in enumerate(codes)]
        people.append(Person(number, Subject(), records))
    pop = Population(policy, tuple(people), dt.date(2026, 3, 1), None, 1)
    found = run_engine(pop, engine, request)
    assert_parity(pop, found)
    assert [found[p.id]["grade"] for p in people] == ["C", "C", "D", "C", "D", "B"]
    assert not any(found[p.id]["reference"] for p in people)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_short_lived_record_of_a_clearance_group_is_read_while_it_keeps_the_group_counting(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """m0 lives 5 years, m1 30 days; both in one clean-period clearance of a year. The
    m1 record can no longer count itself, but acted within a year of the m0 record it
    keeps the m0 record counting past the year: the prune filter must not hide it."""
    clearance = {"name": "clean", "metrics": ["m0", "m1"], "clean_for": "1y"}
    spec = version_spec(
        "v1",
        dt.date(2018, 1, 1),
        {"m0": {"points": -5, "expiry": "5y"}, "m1": {"points": -1, "expiry": "30d"}},
        clearances=[clearance | {"legal_basis": LEGAL_BASIS}],
    )
    policy = PolicySet((PolicyVersion.model_validate(spec),))
    records = [stored(1, "m0", dt.date(2024, 1, 10)), stored(2, "m1", dt.date(2024, 12, 1))]
    pop = Population(policy, (Person(1, Subject(), records),), dt.date(2025, 6, 1), None, 1)
    assert prune_sql(Compiled.build(policy, pop.as_of)) is not None  # pruning is on
    assert expected(pop, pop.people[0])["score"] == 95  # cleared only on 2025-12-01
    assert_parity(pop, run_engine(pop, engine, request))
