"""The impact report of a proposal equals two population runs (the rules in force, the
proposed rules, on the proposed effective date) compared resident by resident, with
counts below 10 suppressed. A record keeps the points of the rule of its act date, so a
harsher deduction changes no one on its first day; a new baseline and a new perk
threshold do."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from factories import OPERATOR, POLICY_DIR, approve_policy
from osmanthus.governance import approved_policy, propose
from osmanthus.ledger import Ledger
from osmanthus.population import run_population
from osmanthus.population.impact import SMALLEST
from osmanthus.population.result import read_results
from osmanthus.population.stats import AGE_BANDS
from osmanthus.synthetic import CitySpec, load_city
from osmanthus.web.access import authenticate, create_key


def shown(count: int) -> int | None:
    return count if count == 0 or count >= SMALLEST else None


def scores(run_dir: Path) -> dict[int, dict[str, Any]]:
    table = read_results(run_dir).select(
        ["resident_id", "district", "birth_year", "score", "perks"]
    )
    return {row["resident_id"]: row for row in table.to_pylist()}


def band(score: int | None, baseline: int) -> str:
    if score is None:
        return "out"
    return "above" if score > baseline else "at" if score == baseline else "below"


def test_the_impact_report_is_two_population_runs_compared(ledger: Ledger, tmp_path: Path) -> None:
    approve_policy(ledger, population_dir=tmp_path / "first")
    load_city(ledger, CitySpec(residents=2_500, seed=11, as_of=ledger.today()))
    effective = ledger.today() + dt.timedelta(days=45)
    folder = tmp_path / "proposed"
    shutil.copytree(POLICY_DIR, folder)
    text = (folder / "2020-01-01.toml").read_text(encoding="utf-8")
    text = text.replace("effective = 2020-01-01\n", f"effective = {effective}\n", 1)
    text = text.replace('version = "2026.1"', 'version = "2027.1"')
    start = text.index("[metrics.failure_to_yield]")
    text = text[:start] + text[start:].replace("points = -3", "points = -40", 1)
    text = text.replace("min_score = 110", "min_score = 104", 1)  # transit: more gain it
    text = text.replace("baseline = 100\n", "baseline = 102\n", 1)  # everyone moves
    (folder / f"{effective}.toml").write_text(text, encoding="utf-8")
    shutil.rmtree(folder / "tests")  # the authors' cases of the new baseline:
    (folder / "tests").mkdir()
    (folder / "tests" / "baseline.toml").write_text(
        f'[[case]]\nname = "new baseline"\non = {effective}\nrecords = []\n'
        "expect = { score = 102 }\n",
        encoding="utf-8",
    )
    author = authenticate(ledger.engine, create_key(ledger.engine, role="operator", name="a"))
    found = propose(ledger, folder, actor=author.identity, population_dir=tmp_path / "pop")
    assert found.validation["ok"], found.validation
    report = found.impact
    assert report is not None and report["as_of"] == effective.isoformat()

    current = approved_policy(ledger.engine)
    proposed = found.bundle.load()
    assert current is not None
    runs = {}
    for name, policy in (("before", current), ("after", proposed)):
        ledger.use_policy(policy)
        run = run_population(ledger, tmp_path / name, as_of=effective, actor=OPERATOR)
        runs[name] = scores(run.scores)
    before, after = runs["before"], runs["after"]
    assert set(before) == set(after) and len(after) == 2_500
    baseline = proposed.latest.scale.baseline
    up = down = changed = 0
    histogram: Counter[int] = Counter()
    perks_before = list(current.in_force(effective).perks)
    perks_after = list(proposed.in_force(effective).perks)
    gains: Counter[str] = Counter()
    losses: Counter[str] = Counter()
    by_district: dict[str, Counter[str]] = {}
    for resident, row in after.items():
        old, new = before[resident]["score"], row["score"]
        was, now = band(old, baseline), band(new, baseline)
        crossed_up = was == "below" and now in ("at", "above")
        crossed_down = was in ("at", "above") and now == "below"
        up += crossed_up
        down += crossed_down
        changed += old != new
        if old is not None and new is not None and old != new:
            histogram[new - old] += 1
        district = by_district.setdefault(row["district"], Counter())
        district.update(residents=1, up_across=crossed_up, down_across=crossed_down)
        for code in set(perks_before) | set(perks_after):
            had = (
                code in perks_before and (before[resident]["perks"] >> perks_before.index(code)) & 1
            )
            has = code in perks_after and (row["perks"] >> perks_after.index(code)) & 1
            gains[code] += bool(has and not had)
            losses[code] += bool(had and not has)
    assert changed == 2_500 and up > SMALLEST and gains["transit_discount"] > SMALLEST
    assert report["residents"] == 2_500
    assert report["changed"] == shown(changed)
    assert report["up_across_baseline"] == shown(up)
    assert report["down_across_baseline"] == shown(down)
    assert report["histogram"] == [[k, shown(v)] for k, v in sorted(histogram.items())]
    assert report["perks"] == [
        {"perk": code, "gain": shown(gains[code]), "lose": shown(losses[code])}
        for code in sorted(set(perks_before) | set(perks_after))
    ]
    for row in report["by_district"]:
        counts = by_district[row["district"]]
        assert row["residents"] == shown(counts["residents"])
        assert row["down_across"] == shown(counts["down_across"])
    assert [row["age_band"] for row in report["by_age_band"]] == [
        name
        for name, _, _ in AGE_BANDS
        if any(r["age_band"] == name for r in report["by_age_band"])
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the engine is the subject
def test_the_impact_report_on_spark_equals_the_one_on_duckdb(
    ledger: Ledger, tmp_path: Path
) -> None:
    """``--engine spark`` gives the same report (local[2]; the session is the process's)."""
    from osmanthus.population.impact import impact_report

    approve_policy(ledger, population_dir=tmp_path / "first")
    load_city(ledger, CitySpec(residents=300, seed=3, as_of=ledger.today()))
    current = approved_policy(ledger.engine)
    assert current is not None
    folder = tmp_path / "proposed"
    shutil.copytree(POLICY_DIR, folder)
    effective = ledger.today() + dt.timedelta(days=45)
    text = (folder / "2020-01-01.toml").read_text(encoding="utf-8")
    text = text.replace("effective = 2020-01-01\n", f"effective = {effective}\n", 1)
    text = text.replace("baseline = 100\n", "baseline = 101\n", 1)
    (folder / f"{effective}.toml").write_text(text, encoding="utf-8")
    from osmanthus.governance import Bundle

    proposed = Bundle.from_folder(folder).load()
    reports = [
        impact_report(
            ledger,
            current,
            proposed,
            as_of=effective,
            population_dir=tmp_path / engine,
            actor=OPERATOR,
            engine=engine,
            **options,
        )
        for engine, options in (("duckdb", {}), ("spark", {"master": "local[2]"}))
    ]
    duck, spark = ({k: v for k, v in r.items() if k != "engine"} for r in reports)
    assert duck == spark and duck["changed"] == 300
