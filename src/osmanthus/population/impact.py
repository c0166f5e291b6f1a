"""The impact report of a proposed policy: the whole population scored under the rules in
force and under the proposed ones, on the same date and the same ledger, compared
resident by resident.

Both scorings are ordinary population-engine runs (DuckDB, or Spark) over the lake, so
the report costs about two population runs. It says who crosses the baseline in either
direction, who gains or loses each perk, a histogram of score changes, and the same by
district and by age band. No count below :data:`SMALLEST` is shown: it is reported as
``None`` ("fewer than 10"), so the report can be published without pointing at anyone.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from osmanthus.core import Actor
from osmanthus.ledger import Ledger, append_entry, database_errors
from osmanthus.policy import PolicySet
from osmanthus.population.compiled import Compiled
from osmanthus.population.engines import ENGINES, EngineError
from osmanthus.population.export import export_ledger
from osmanthus.population.lake import Lake
from osmanthus.population.result import result_files
from osmanthus.population.scrub import readers
from osmanthus.population.stats import AGE_BANDS

__all__ = ["SMALLEST", "impact_report", "shown", "suppressed"]

#: Counts below this are suppressed in the report.
SMALLEST = 10


def impact_report(
    ledger: Ledger,
    current: PolicySet | None,
    proposed: PolicySet,
    *,
    as_of: dt.date,
    population_dir: Path,
    actor: Actor,
    engine: str = "duckdb",
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Score everyone on ``as_of`` under ``current`` (everyone at the baseline, holding no
    perk, when there is no approved policy yet) and under ``proposed``; compare."""
    if engine not in ENGINES:
        raise EngineError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    lake_dir = population_dir / "lake"
    export_ledger(ledger.engine, lake_dir, actor=actor)
    with database_errors("impact report"), ledger.engine.begin() as conn:
        append_entry(
            conn,
            actor=str(actor),
            action="population.read",
            purpose="policy impact report",
            detail={"engine": engine, "as_of": as_of.isoformat()},
        )
    after_version = proposed.in_force(as_of)
    with (
        tempfile.TemporaryDirectory(prefix="osmanthus-impact-") as folder,
        readers(lake_dir),  # no erasure deletes a file read meanwhile
    ):
        lake = Lake.open(lake_dir)
        out = Path(folder)
        runner = ENGINES[engine]
        runner(
            lake, Compiled.build(proposed, as_of), None, out / "after", progress=progress, **options
        )
        before_perks: list[str] = []
        if current is not None:
            runner(
                lake,
                Compiled.build(current, as_of),
                None,
                out / "before",
                progress=progress,
                **options,
            )
            before_perks = list(current.in_force(as_of).perks)
        return _compare(
            out,
            has_before=current is not None,
            baseline=after_version.scale.baseline,
            before_perks=before_perks,
            after_perks=list(after_version.perks),
            year=as_of.year,
        ) | {
            "as_of": as_of.isoformat(),
            "engine": engine,
            "policy": f"{after_version.name} {after_version.version}",
            "compared_with": (
                f"{current.in_force(as_of).name} {current.in_force(as_of).version}"
                if current is not None
                else "no approved policy (everyone at the baseline, no perks)"
            ),
        }


def _view(con: duckdb.DuckDBPyConnection, name: str, folder: Path) -> None:
    files = [str(p) for p in result_files(folder)]
    con.read_parquet(files).create_view(name)


def _compare(
    out: Path,
    *,
    has_before: bool,
    baseline: int,
    before_perks: list[str],
    after_perks: list[str],
    year: int,
) -> dict[str, Any]:
    con = duckdb.connect()
    try:
        _view(con, "a", out / "after")
        if has_before:
            _view(con, "b", out / "before")
            before = "SELECT resident_id, score AS before, perks AS before_perks FROM b"
        else:
            before = (
                f"SELECT resident_id, {int(baseline)} AS before, 0::BIGINT AS before_perks FROM a"
            )
        age = f"({int(year)} - a.birth_year)"
        ages = " ".join(f"WHEN {age} BETWEEN {lo} AND {hi} THEN '{n}'" for n, lo, hi in AGE_BANDS)
        b = int(baseline)
        con.sql(
            f"""CREATE TEMP TABLE j AS SELECT a.resident_id, a.district,
                CASE {ages} ELSE 'unknown' END AS age_band,
                bb.before, a.score AS after, bb.before_perks, a.perks AS after_perks,
                CASE WHEN bb.before IS NULL THEN 'out' WHEN bb.before > {b} THEN 'above'
                     WHEN bb.before = {b} THEN 'at' ELSE 'below' END AS band_before,
                CASE WHEN a.score IS NULL THEN 'out' WHEN a.score > {b} THEN 'above'
                     WHEN a.score = {b} THEN 'at' ELSE 'below' END AS band_after
            FROM a JOIN ({before}) bb USING (resident_id)"""
        )
        crossing = (
            "count(*) FILTER (band_before IN ('below') AND band_after IN ('at', 'above')) "
            "AS up_across, count(*) FILTER (band_before IN ('at', 'above') AND "
            "band_after = 'below') AS down_across, count(*) FILTER (before IS DISTINCT FROM "
            "after) AS changed"
        )
        total = _one(con, f"SELECT count(*) AS residents, {crossing} FROM j")
        codes = sorted(set(before_perks) | set(after_perks))
        parts = []
        for n, code in enumerate(codes):
            had = (
                f"((before_perks >> {before_perks.index(code)}) & 1 = 1)"
                if code in before_perks
                else "false"
            )
            has = (
                f"((after_perks >> {after_perks.index(code)}) & 1 = 1)"
                if code in after_perks
                else "false"
            )
            parts += [
                f"count(*) FILTER ({has} AND NOT {had}) AS gain{n}",
                f"count(*) FILTER ({had} AND NOT {has}) AS lose{n}",
            ]
        counted = _one(con, f"SELECT {', '.join(parts)} FROM j") if codes else {}
        perks = [
            {"perk": code, "gain": counted[f"gain{n}"], "lose": counted[f"lose{n}"]}
            for n, code in enumerate(codes)
        ]
        histogram = _rows(
            con,
            "SELECT (after - before) AS change, count(*) AS residents FROM j "
            "WHERE before IS NOT NULL AND after IS NOT NULL AND after <> before "
            "GROUP BY 1 ORDER BY 1",
        )
        by_district = _rows(
            con, f"SELECT district, count(*) AS residents, {crossing} FROM j GROUP BY 1 ORDER BY 1"
        )
        by_age = _rows(
            con, f"SELECT age_band, count(*) AS residents, {crossing} FROM j GROUP BY 1 ORDER BY 1"
        )
    finally:
        con.close()
    order = {name: i for i, (name, _, _) in enumerate(AGE_BANDS)}
    by_age.sort(key=lambda row: order.get(row["age_band"], len(order)))
    return {
        "smallest_count_shown": SMALLEST,
        "residents": shown(total["residents"]),
        "changed": shown(total["changed"]),
        "up_across_baseline": shown(total["up_across"]),
        "down_across_baseline": shown(total["down_across"]),
        "baseline": baseline,
        "perks": [
            {"perk": p["perk"], "gain": shown(p["gain"]), "lose": shown(p["lose"])} for p in perks
        ],
        "histogram": [[row["change"], shown(row["residents"])] for row in histogram],
        "by_district": [suppressed(row) for row in by_district],
        "by_age_band": [suppressed(row) for row in by_age],
    }


def shown(count: int) -> int | None:
    """A count, or None when it is too small to publish (0 is shown: nobody)."""
    return int(count) if count == 0 or count >= SMALLEST else None


def suppressed(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every count too small to publish replaced by None."""
    return {key: shown(v) if isinstance(v, int) else v for key, v in row.items()}


def _rows(con: duckdb.DuckDBPyConnection, query: str) -> list[dict[str, Any]]:
    relation = con.sql(query)
    names = relation.columns
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


def _one(con: duckdb.DuckDBPyConnection, query: str) -> dict[str, Any]:
    return _rows(con, query)[0]
