"""How the default engine reads a bucket: the lake's files in resident order, several
exports one after the other, rows recorded after "known at" and rows the prune rule drops
left out."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from population_data import Person, append_export, lake_tables, write_lake

from osmanthus.ledger import Subject
from osmanthus.population.columns import by_key
from osmanthus.population.engines import read_bucket
from osmanthus.population.lake import Lake, LakeWriter
from osmanthus.population.result import read_results
from strategies import PROPERTY, stored

EARLIER = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

keys = st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 2**40)), max_size=60)


@PROPERTY
@given(rows=keys, big=st.booleans())
def test_by_key_orders_as_a_lexical_sort(rows: list[tuple[int, int]], big: bool) -> None:
    """The packed key's order is the lexical sort's, and values too wide to pack fall
    back to it."""
    if big and rows:
        rows = [(2**62, rows[0][1]), *rows[1:]]
    major = np.array([r[0] for r in rows], dtype=np.int64)
    minor = np.array([r[1] for r in rows], dtype=np.int64)
    order = by_key(major, minor)
    assert [rows[i] for i in order.tolist()] == sorted(rows, key=lambda r: (r[0], r[1]))


def people(first_id: int) -> list[Person]:
    """Residents 1..6, two records each, ids given from ``first_id`` resident by resident
    in reverse, so id order is not resident order."""
    found = []
    next_id = first_id
    for resident in range(6, 0, -1):
        records = []
        for _ in range(2):
            records.append(stored(next_id, "m0", dt.date(2026, 1, resident)))
            next_id += 1
        found.append(Person(resident, Subject(), records))
    return found


def test_a_file_is_written_in_resident_order(tmp_path: Path) -> None:
    lake = write_lake(tmp_path / "lake", people(1), buckets=1)
    rows = pq.read_table(lake.paths("records", 0)[0])
    pairs = list(zip(rows["resident_id"].to_pylist(), rows["id"].to_pylist(), strict=True))
    assert pairs == sorted(pairs)
    assert [r for r, _ in pairs] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]


def recorded(tables: dict[str, pa.Table], at: dt.datetime) -> dict[str, pa.Table]:
    """The tables with every record recorded at ``at``."""
    records = tables["records"]
    column = pa.array([at] * records.num_rows, pa.timestamp("us", tz="UTC"))
    index = records.schema.get_field_index("recorded_at")
    return {**tables, "records": records.set_column(index, "recorded_at", column)}


def test_several_exports_are_read_each_in_resident_order_with_one_dictionary(
    tmp_path: Path,
) -> None:
    """A second export's rows follow the first's, each in resident order (the kernel
    orders them: the parity suite writes 1 to 3 exports), the text columns' chunks share
    one dictionary (the run's snapshot keeps them in Arrow files), and rows recorded
    after "known at" are left out."""
    lake = Lake.open(tmp_path / "lake", create=True, buckets=1)
    append_export(lake, recorded(lake_tables(people(1)), EARLIER))
    more = recorded(lake_tables(people(100)), LATER)  # new records of the same residents
    append_export(lake, {n: t if n == "records" else t.slice(0, 0) for n, t in more.items()})
    lake = Lake.open(lake.path)
    assert len(lake.paths("records", 0)) == 2
    rows = read_bucket(lake, "records", 0, None, None)
    assert rows.num_rows == 24
    pairs = list(zip(rows["resident_id"].to_pylist(), rows["id"].to_pylist(), strict=True))
    first = [p for p in pairs if p[1] <= 12]  # the first export's rows, then the second's
    assert pairs == first + [p for p in pairs if p[1] > 12]
    assert first == sorted(first) and pairs[12:] == sorted(pairs[12:])
    metric = rows["metric"]
    assert all(c.dictionary.equals(metric.chunk(0).dictionary) for c in metric.chunks)
    known = read_bucket(lake, "records", 0, LATER - dt.timedelta(days=1), None)
    assert sorted(known["id"].to_pylist()) == list(range(1, 13))
    assert known["resident_id"].to_pylist() == sorted(known["resident_id"].to_pylist())


@PROPERTY
@given(
    start=st.integers(0, 1000),
    step=st.integers(1, 64),
    count=st.integers(0, 40),
    gap=st.booleans(),
    order=st.sampled_from(["ascending", "buckets", "any"]),
    shuffle=st.randoms(use_true_random=False),
    owners=st.lists(st.integers(0, 4000), max_size=50),
)
def test_each_record_finds_its_resident_row(
    start: int,
    step: int,
    count: int,
    gap: bool,
    order: str,
    shuffle: random.Random,
    owners: list[int],
) -> None:
    """Evenly spaced resident ids (a bucket) are found by arithmetic, ids dense in their
    span in any order (a few buckets one after the other) by a table, others by binary
    search: any way, an owner among the residents gets exactly its row, and any other
    owner -1 (so its records are left out)."""
    from osmanthus.population.kernel import _findable, _slots

    ids = [start + step * k for k in range(count)]
    if gap and len(ids) > 2:
        del ids[len(ids) // 2]
    if order == "buckets":  # a few buckets scored together: one after the other
        ids.sort(key=lambda i: (i % 3, i))
    elif order == "any":
        shuffle.shuffle(ids)
    rid = np.array(ids, dtype=np.int64)
    if not _findable(rid):
        ids.sort()
        rid = np.sort(rid)
    found = _slots(rid, np.array(owners, dtype=np.int64))
    for owner, slot in zip(owners, found.tolist(), strict=True):
        assert slot == (ids.index(owner) if owner in ids else -1)


def test_a_file_of_several_row_groups_reads_into_one_dictionary_per_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket's file written in several flushes has row groups with dictionaries of
    their own (a 5 M-resident lake's have two); the rows read must carry one per column,
    or the run's snapshot (Arrow files: one dictionary per column) cannot keep them."""
    from osmanthus.policy import load_policy
    from osmanthus.population import lake as lake_module
    from osmanthus.population.compiled import Compiled
    from osmanthus.population.engines import run_duckdb
    from osmanthus.settings import EXAMPLE_POLICY

    monkeypatch.setattr(lake_module, "ROW_GROUP", 1)  # every add is flushed on its own
    lake = Lake.open(tmp_path / "lake", create=True, buckets=1)
    first = [Person(1, Subject(), [stored(1, "fare_evasion", dt.date(2026, 3, 1))])]
    second = [Person(2, Subject(), [stored(2, "volunteer_hours", dt.date(2026, 3, 1))])]
    writers = {}
    for name in ("records", "residents", "profile_facts", "suspensions"):
        writer = writers[name] = LakeWriter(lake, name, 1)
        for group in (first, second):
            writer.add(lake_tables(group)[name])
        writer.close()
    lake.commit(1, {"records": 2, "residents": 2, "profile_facts": 0, "suspensions": 0}, writers)
    assert pq.ParquetFile(lake.paths("records", 0)[0]).metadata.num_row_groups == 2
    rows = read_bucket(lake, "records", 0, None, None)
    assert rows["metric"].num_chunks == 1
    assert rows["metric"].to_pylist() == ["fare_evasion", "volunteer_hours"]
    compiled = Compiled.build(load_policy(EXAMPLE_POLICY), dt.date(2026, 11, 1))
    run_duckdb(lake, compiled, None, tmp_path / "out", threads=1, snapshot=tmp_path / "snap")
    assert read_results(tmp_path / "out").num_rows == 2


def test_a_corrected_record_typed_far_in_the_future_scores_as_the_reference(
    tmp_path: Path,
) -> None:
    """A record typed 9999-12-30 and replaced by a correction does not count, and its
    date must not break the run (the period table was once sized by every row)."""
    from osmanthus.policy import load_policy
    from osmanthus.population.compiled import Compiled
    from osmanthus.population.engines import run_duckdb
    from osmanthus.scoring import explain
    from osmanthus.settings import EXAMPLE_POLICY

    policy = load_policy(EXAMPLE_POLICY)
    as_of = dt.date(2026, 11, 1)
    records = [stored(k, "fare_evasion", dt.date(2026, 3, k)) for k in range(1, 6)]
    records.append(stored(10, "fare_evasion", dt.date(9999, 12, 30)))
    records.append(
        stored(11, "fare_evasion", dt.date(2026, 4, 1), kind="correction", supersedes=10)
    )
    lake = write_lake(tmp_path / "lake", [Person(1, Subject(), records)], buckets=1)
    run_duckdb(lake, Compiled.build(policy, as_of), None, tmp_path / "out", threads=1)
    found = read_results(tmp_path / "out")["score"].to_pylist()
    assert found == [explain(records, policy, as_of).score]


def _varied_people(as_of: dt.date, metrics: list[str]) -> list[Person]:
    """300 residents with up to nine records each of ``metrics`` over six years: fixed
    points, values per unit, corrections and incidents."""
    import dataclasses
    import random

    rng = random.Random(19)
    people, next_id = [], 1
    for resident in range(1, 301):
        records = []
        for _ in range(rng.randint(0, 9)):
            act = as_of - dt.timedelta(days=rng.randint(0, 6 * 365))
            record = stored(
                next_id,
                rng.choice(metrics),
                act,
                act + dt.timedelta(days=rng.randint(0, 40)),
                value=float(rng.randint(1, 12)),
                incident=rng.choice([None, None, "I1", "I2"]),
            )
            if records and rng.random() < 0.1:  # a correction of an earlier record
                record = dataclasses.replace(
                    record, kind="correction", supersedes_id=rng.choice(records).id
                )
            records.append(record)
            next_id += 1
        people.append(Person(resident, Subject(), records))
    return people


def test_a_lake_of_several_exports_scores_as_the_same_rows_in_one(tmp_path: Path) -> None:
    """The same records written in one export and dealt out among three give the same
    results on every resident: the kernel puts a bucket's rows in order, whichever file
    each came from (fixed points, values per unit, corrections and incidents; most
    residents with records in every file)."""
    from osmanthus.policy import load_policy
    from osmanthus.population.compiled import Compiled
    from osmanthus.population.engines import run_duckdb
    from osmanthus.settings import EXAMPLE_POLICY

    policy = load_policy(EXAMPLE_POLICY)
    as_of = dt.date(2026, 11, 1)
    people = _varied_people(as_of, sorted(policy.in_force(as_of).metrics))
    compiled = Compiled.build(policy, as_of)
    results = []
    for exports in (1, 3):
        lake = write_lake(tmp_path / f"lake-{exports}", people, buckets=4, exports=exports)
        assert len(lake.paths("records", 0)) == exports
        out = tmp_path / f"out-{exports}"
        run_duckdb(lake, compiled, None, out, threads=2)
        results.append(read_results(out).sort_by("resident_id").to_pylist())
    assert results[0] == results[1]
    assert len({r["score"] for r in results[0]}) > 5  # not all at the baseline


def test_the_lake_stores_the_ledgers_required_columns_as_required(tmp_path: Path) -> None:
    """Every column the ledger declares NOT NULL is a required Parquet column in the
    lake's files (no definition levels to decode), the three it leaves empty optional;
    a null where the ledger allows none is refused in one line naming the table and
    column, and nothing of that table is queued."""
    from osmanthus.population.lake import TABLES, LakeError

    lake = write_lake(tmp_path / "lake", people(12), buckets=2)
    for table, schema in TABLES.items():
        for path in lake.paths(table):
            stored_schema = pq.ParquetFile(path).schema_arrow
            for field in schema:
                assert stored_schema.field(field.name).nullable == field.nullable, field
    optional = {f.name for f in TABLES["records"] if f.nullable}
    assert optional == {"incident_ref", "supersedes_id", "severity"}
    writer = LakeWriter(lake, "residents", lake.exports + 1)
    bad = pa.table(
        {
            "id": [90, 91],
            "district": ["gusu", None],
            "birth_year": pa.array([1980, 1990], pa.int16()),
            "registered_at": pa.array([0, 0], pa.timestamp("us", tz="UTC")),
        }
    )
    with pytest.raises(LakeError, match=r"^lake table residents: .*'district'.*non-nullable$"):
        writer.add(bad)
    assert writer.rows == 0
    assert writer.close() == []


def test_a_lake_exported_before_its_columns_were_required_scores_the_same(
    tmp_path: Path,
) -> None:
    """Files written while every column was nullable (before the lake's columns were
    required) read beside newer files as one bucket: the same rows, the same results
    from the default engine and from Spark, and an incremental run on top of them equal
    to a full run (its snapshot holds buckets of both kinds)."""
    import shutil

    from test_incremental import results

    from osmanthus.policy import load_policy
    from osmanthus.population.compiled import Compiled
    from osmanthus.population.engines import run_duckdb, run_spark
    from osmanthus.population.lake import TABLES
    from osmanthus.population.runs import score_population
    from osmanthus.settings import EXAMPLE_POLICY

    policy = load_policy(EXAMPLE_POLICY)
    as_of = dt.date(2026, 11, 1)
    people = _varied_people(as_of, sorted(policy.in_force(as_of).metrics))
    lake = write_lake(tmp_path / "new", people, buckets=4, exports=3)
    shutil.copytree(lake.path, tmp_path / "old")
    old = Lake.open(tmp_path / "old")
    rewritten = 0
    for table, schema in TABLES.items():
        nullable = pa.schema([field.with_nullable(True) for field in schema])
        # bucket 0's files of the first two exports as before; the other buckets' new
        for path in old.paths(table, 0):
            if path.name in ("part-000001.parquet", "part-000002.parquet"):
                pq.write_table(pq.read_table(path).cast(nullable), path)
                rewritten += 1
    assert rewritten >= 3
    assert pq.ParquetFile(old.paths("records", 0)[0]).schema_arrow.field("id").nullable
    for bucket in range(4):
        for table in TABLES:
            found = read_bucket(old, table, bucket, None, None)
            expected = read_bucket(lake, table, bucket, None, None)
            assert found.to_pylist() == expected.to_pylist(), (table, bucket)
    compiled = Compiled.build(policy, as_of)
    run_duckdb(lake, compiled, None, tmp_path / "out-new", threads=2)
    run_duckdb(old, compiled, None, tmp_path / "out-old", threads=2)
    expected_rows = read_results(tmp_path / "out-new").sort_by("resident_id").to_pylist()
    assert read_results(tmp_path / "out-old").sort_by("resident_id").to_pylist() == expected_rows
    # Spark reads the old and new files of a bucket as one frame too
    run_spark(old, compiled, None, tmp_path / "out-spark", master="local[2]")
    assert read_results(tmp_path / "out-spark").sort_by("resident_id").to_pylist() == expected_rows
    # a full run on the mixed lake, a new export in the new form, and the next day's
    # run continuing from the full run against a full run of that day
    score_population(old.path, policy, tmp_path / "runs", as_of=as_of, full=True)
    later = [stored(10_000 + p.id, "fare_evasion", as_of, as_of) for p in people[:40]]
    extra = [Person(p.id, p.subject, [r]) for p, r in zip(people, later, strict=False)]
    tables = lake_tables(extra)
    empty = {name: table.slice(0, 0) for name, table in tables.items()}
    append_export(old, {**empty, "records": tables["records"]})
    next_day = as_of + dt.timedelta(days=1)
    continued = score_population(old.path, policy, tmp_path / "runs", as_of=next_day)
    assert continued.full is None  # it did continue from the full run
    full = score_population(old.path, policy, tmp_path / "full", as_of=next_day, full=True)
    assert results(continued) == results(full)
