"""A population run on a real ledger (SQLite and PostgreSQL): export, score, statistics,
and the change since the previous run; the CLI's population run and stats."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from population_data import Person, write_lake
from typer.testing import CliRunner

from factories import OPERATOR, make_id
from minimal_policy import BASIS, MINIMAL, policy_from
from osmanthus.cli import app
from osmanthus.ledger import Ledger, NewRecord, StoredRecord, Subject, iter_population
from osmanthus.population import population_stats, run_population
from osmanthus.population.compiled import Compiled
from osmanthus.population.engines import run_duckdb, run_spark
from osmanthus.population.result import read_results
from osmanthus.scoring import explain
from osmanthus.synthetic import CitySpec, load_city
from strategies import stored

AS_OF = dt.date(2026, 11, 1)


def test_every_resident_of_a_city_scores_as_the_reference_scorer_says(
    ledger: Ledger, tmp_path: Path
) -> None:
    load_city(ledger, CitySpec(residents=1_500, seed=5, as_of=AS_OF))
    run = run_population(ledger, tmp_path, as_of=AS_OF, actor=OPERATOR)

    found = {row["resident_id"]: row for row in read_results(run.scores).to_pylist()}
    bands: Counter[str] = Counter()
    for resident, subject, rows in iter_population(ledger.engine, actor=OPERATOR, purpose="test"):
        want = explain(rows, ledger.policy, AS_OF, subject=subject)
        assert found[resident]["score"] == want.score, resident
        assert found[resident]["grade"] == want.grade
        bands["above" if want.score > 100 else "below" if want.score < 100 else "at"] += 1
    stats = run.stats
    assert stats["residents"] == 1_500 == len(found)
    assert (stats["above"], stats["at"], stats["below"]) == (
        bands["above"],
        bands["at"],
        bands["below"],
    )
    assert sum(count for _, count in stats["histogram"]) == 1_500
    assert sum(row["residents"] for row in stats["by_district"]) == 1_500
    assert sum(row["residents"] for row in stats["by_age"]) == 1_500
    assert stats["reference_path"] == 0  # the example policy needs no step-by-step timeline
    assert stats["change"] is None


def test_the_next_run_reports_what_changed(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> None:
    for n in range(1, 4):
        ledger.register_resident(make_id(sequence=n), "gusu", actor=OPERATOR)
    first = run_population(ledger, tmp_path, as_of=AS_OF, actor=OPERATOR)
    assert first.stats["at"] == 3
    ledger.append_record(
        make_record(
            national_id=make_id(sequence=2),
            act_date=dt.date(2026, 10, 1),
            decision_date=dt.date(2026, 10, 2),
        ),
        actor=OPERATOR,
    )
    ledger.register_resident(make_id(sequence=4), "huqiu", actor=OPERATOR)
    second = run_population(ledger, tmp_path, as_of=AS_OF, actor=OPERATOR)
    assert first.full == "no earlier run" and first.rescored == 3
    # the second run continues from the first: the resident with a new record and the
    # new resident are scored again, no one else
    assert second.full is None and second.rescored == 2
    # only the newest run keeps a snapshot: the next run continues from it alone
    assert (second.folder / "snapshot").is_dir() and not (first.folder / "snapshot").exists()
    change = second.stats["change"]
    assert change["previous_run"] == first.run_id
    assert (change["compared"], change["changed"], change["down"], change["new_residents"]) == (
        3,
        1,
        1,
        1,
    )
    assert change["moved"] == [{"before": "at", "after": "below", "residents": 1}]
    traffic = {row["department"]: row for row in second.stats["departments"]}["traffic-police"]
    assert traffic["residents"] == 1 and traffic["points_lost"] < 0
    third = run_population(ledger, tmp_path, as_of=AS_OF, actor=OPERATOR, full=True)
    assert third.full == "a full run was asked for" and third.rescored == 4
    assert {k: v for k, v in third.stats.items() if k != "change"} == {
        k: v for k, v in second.stats.items() if k != "change"
    }
    assert third.stats["change"]["changed"] == 0


def test_a_run_scores_everyone_when_the_policy_changed(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(1, 4):
        ledger.register_resident(make_id(sequence=n), "gusu", actor=OPERATOR)
    run_population(ledger, tmp_path, as_of=AS_OF, actor=OPERATOR)
    assert run_population(ledger, tmp_path, as_of=AS_OF, actor=OPERATOR).full is None
    changed = MINIMAL.replace("version = ", "version = 'v-changed' #", 1)
    (tmp_path / "changed").mkdir()
    ledger.use_policy(policy_from(tmp_path / "changed", changed))
    again = run_population(ledger, tmp_path, as_of=AS_OF, actor=OPERATOR)
    assert again.full == "the policy changed" and again.rescored == 3
    later = run_population(ledger, tmp_path, as_of=dt.date(2027, 1, 1), actor=OPERATOR)
    assert later.full is not None and "2027-01-01" in later.full
    earlier = run_population(ledger, tmp_path, as_of=AS_OF, actor=OPERATOR)
    assert earlier.full == "the last run scored a later date (2027-01-01)"
    known = dt.datetime.now(dt.UTC)
    past = run_population(ledger, tmp_path, as_of=AS_OF, actor=OPERATOR, known_at=known)
    assert past.full == "a run as known at a past time"
    run_population(ledger, tmp_path, as_of=AS_OF, actor=OPERATOR)
    import osmanthus.population.incremental as incremental

    monkeypatch.setattr(incremental, "__version__", "99.0.0")  # an upgrade
    upgraded = run_population(ledger, tmp_path, as_of=AS_OF, actor=OPERATOR)
    assert upgraded.full == "the last run was scored by another version of Osmanthus than 99.0.0"


@pytest.mark.parametrize("command", [["stats", "--json"], ["population", "run", "--json"]])
def test_cli_prints_the_statistics(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OSMANTHUS_DEMO_MODE", "true")
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    result = runner.invoke(app, [*command, "--as-of", "2026-11-01"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["residents"] == 0 and stats["baseline"] == 100
    assert (tmp_path / "var" / "population-demo" / "lake" / "manifest.json").exists()


def test_cli_says_how_many_residents_a_run_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OSMANTHUS_DEMO_MODE", "true")
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    first = runner.invoke(app, ["population", "run", "--as-of", "2026-11-01"])
    assert first.exit_code == 0, first.output
    assert "everyone scored (no earlier run)" in first.output
    again = runner.invoke(app, ["population", "run", "--as-of", "2026-11-01"])
    assert again.exit_code == 0, again.output
    assert "0 residents scored again since run" in again.output
    full = runner.invoke(app, ["population", "run", "--as-of", "2026-11-01", "--full"])
    assert full.exit_code == 0, full.output
    assert "everyone scored (a full run was asked for)" in full.output


@pytest.mark.parametrize("missing", ["pyspark", "pandas"])
def test_spark_without_its_extra_names_the_extra(
    missing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import osmanthus.population.engines as engines

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OSMANTHUS_DEMO_MODE", "true")
    monkeypatch.setattr(engines, "_SESSION", None)  # no session kept from another test
    monkeypatch.setitem(__import__("sys").modules, missing, None)  # as if not installed
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    result = runner.invoke(app, ["population", "run", "--engine", "spark"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: spark: {missing} not installed: the Spark engine is the optional extra "
        "'spark' (pip install 'osmanthus[spark]'; it also needs Java 17)"
    )


#: staged measures send every resident with a loss to the reference path
MEASURED = (
    MINIMAL
    + f"""
[[measures]]
name = "warning"
at_most = 50
{BASIS}
"""
)


@pytest.mark.parametrize("path", ["column", "reference"])
@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_department_points_gained_and_lost_are_summed_record_by_record(
    engine: str, path: str, tmp_path: Path
) -> None:
    """A resident gaining 5 and losing 10 from one department has gained 5 and lost 10
    there, not lost a net 5."""
    policy = policy_from(tmp_path, MINIMAL if path == "column" else MEASURED)
    day = dt.date(2026, 6, 1)

    def record(number: int, metric: str) -> StoredRecord:
        return dataclasses.replace(stored(number, metric, day), department="dept")

    people = [
        Person(1, Subject(), [record(1, "good"), record(2, "bad")]),
        Person(2, Subject(), [record(3, "good")]),
    ]
    lake = write_lake(tmp_path / "lake", people, buckets=2)
    compiled = Compiled.build(policy, AS_OF)
    scores = tmp_path / "run" / "scores"
    if engine == "spark":
        run_spark(lake, compiled, None, scores, master="local[2]")
    else:
        run_duckdb(lake, compiled, None, scores, threads=1)
    stats, _ = population_stats(scores.parent, as_of=AS_OF, baseline=100, perks=[])
    assert stats["reference_path"] == (0 if path == "column" else 1)
    assert stats["departments"] == [
        {"department": "dept", "residents": 2, "points_gained": 10, "points_lost": -10, "net": 0}
    ]


def test_a_run_is_on_disk_before_its_run_json_says_it_finished(
    ledger: Ledger, tmp_path: Path, disk_events: list[tuple[str, Path]]
) -> None:
    for n in range(1, 4):
        ledger.register_resident(make_id(sequence=n), "gusu", actor=OPERATOR)
    run = run_population(ledger, tmp_path.resolve(), as_of=AS_OF, actor=OPERATOR)
    finished = disk_events.index(("replace", run.folder / "run.json"))
    before = {path for _, path in disk_events[:finished]}
    scores = sorted(run.scores.rglob("*.parquet"))
    assert scores and {*scores, run.scores, run.folder} <= before
    assert ("sync", run.folder.parent) in disk_events[finished:]


def test_an_incremental_run_writes_exactly_what_a_full_run_writes(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> None:
    """Row for row and in the same order within each row: a resident's departments came
    out in the order their records were read in an incremental run once (by name in a
    full run), found at 13 M residents by bench/population.py."""
    import duckdb

    from osmanthus.population.scores import OVERLAY, scores_view

    for n in range(1, 5):
        ledger.register_resident(make_id(sequence=n), "gusu", actor=OPERATOR)
    run_population(ledger, tmp_path / "a", as_of=AS_OF, actor=OPERATOR)
    for metric, department in [("failure_to_yield", "traffic-police"), ("tax_arrears", "tax")]:
        ledger.append_record(
            make_record(
                national_id=make_id(sequence=2),
                metric=metric,
                department=department,
                act_date=dt.date(2026, 10, 1),
                decision_date=dt.date(2026, 10, 2),
            ),
            actor=OPERATOR,
        )
    incremental = run_population(ledger, tmp_path / "a", as_of=AS_OF, actor=OPERATOR)
    full = run_population(ledger, tmp_path / "b", as_of=AS_OF, actor=OPERATOR)
    assert incremental.full is None and full.full == "no earlier run"

    def rows(folder: Path) -> list[list[tuple[object, ...]]]:
        con = duckdb.connect()
        scores_view(con, "s", folder)
        return [
            con.sql(f"SELECT * FROM {view} ORDER BY ALL").fetchall()
            for view in ("s", "s_contributions")
        ]

    assert rows(incremental.folder) == rows(full.folder)
    # each resident's list, as read back, by department name from either path
    for written in (incremental.folder / OVERLAY, full.folder / "scores"):
        lists = {r["resident_id"]: r["contributions"] for r in read_results(written).to_pylist()}
        assert [c["department"] for c in lists[2]] == ["tax", "traffic-police"]
