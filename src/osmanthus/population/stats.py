"""Statistics of one population run, computed by DuckDB over the run's result files.

Counts above, at and below the baseline, the histogram, by district and by age band,
eligibility for each perk, staged measures, each department's contribution (points of
the records that count now: gained and lost summed record by record, and the net), and
the change since the previous run (residents whose score changed, moved between
above/at/below, appeared or left the scope)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

__all__ = ["AGE_BANDS", "population_stats"]

#: Age bands (years reached in the calendar year of the scoring date).
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("under 18", 0, 17),
    ("18-29", 18, 29),
    ("30-44", 30, 44),
    ("45-59", 45, 59),
    ("60-74", 60, 74),
    ("75 and over", 75, 10_000),
)


def population_stats(
    scores: Path,
    *,
    as_of: dt.date,
    baseline: int,
    perks: list[tuple[str, str]],
    previous: Path | None = None,
) -> dict[str, Any]:
    """The statistics of the results in ``scores`` (compared with ``previous`` if given)."""
    con = duckdb.connect()
    try:
        _scored_view(con, "s", scores, as_of.year, baseline)
        return _stats(con, baseline, perks, previous)
    finally:
        con.close()


def _scored_view(
    con: duckdb.DuckDBPyConnection, name: str, folder: Path, year: int, baseline: int
) -> None:
    """A view of a run's results with each resident's age and band."""
    files = sorted(str(p) for p in folder.rglob("*.parquet"))
    con.read_parquet(files).create_view(f"{name}_raw")
    b = int(baseline)
    con.sql(
        f"CREATE VIEW {name} AS SELECT *, {int(year)} - birth_year AS age, "
        f"CASE WHEN score IS NULL THEN 'out of scope' WHEN score > {b} THEN 'above' "
        f"WHEN score = {b} THEN 'at' ELSE 'below' END AS band FROM {name}_raw"
    )


def _rows(con: duckdb.DuckDBPyConnection, query: str, **params: Any) -> list[dict[str, Any]]:
    relation = con.sql(query, params=params or None)
    names = relation.columns
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


def _bands(con: duckdb.DuckDBPyConnection, group: str, label: str) -> list[dict[str, Any]]:
    return _rows(
        con,
        f"SELECT {group} AS {label}, count(*) AS residents, "
        "count(*) FILTER (band = 'above') AS above, count(*) FILTER (band = 'at') AS at, "
        "count(*) FILTER (band = 'below') AS below, "
        "count(*) FILTER (band = 'out of scope') AS out_of_scope, "
        "round(avg(score), 3) AS mean_score "
        f"FROM s GROUP BY 1 ORDER BY 1",
    )


def _stats(
    con: duckdb.DuckDBPyConnection,
    baseline: int,
    perks: list[tuple[str, str]],
    previous: Path | None,
) -> dict[str, Any]:
    total = _rows(
        con,
        "SELECT count(*) AS residents, count(score) AS in_scope, "
        "count(*) FILTER (band = 'above') AS above, count(*) FILTER (band = 'at') AS at, "
        "count(*) FILTER (band = 'below') AS below, "
        "count(*) FILTER (band = 'out of scope') AS out_of_scope, "
        "min(score) AS lowest, max(score) AS highest, round(avg(score), 3) AS mean_score, "
        "count(*) FILTER (reference) AS reference_path FROM s",
    )[0]
    ages = " ".join(f"WHEN age BETWEEN {lo} AND {hi} THEN '{name}'" for name, lo, hi in AGE_BANDS)
    order = {name: i for i, (name, _, _) in enumerate(AGE_BANDS)}
    by_age = sorted(
        _bands(con, f"CASE {ages} ELSE 'unknown' END", "age_band"),
        key=lambda row: order.get(row["age_band"], len(order)),
    )
    counts = (
        _rows(
            con,
            "SELECT "
            + ", ".join(
                f"count(*) FILTER ((perks >> {bit}) & 1 = 1) AS p{bit}" for bit in range(len(perks))
            )
            + " FROM s",
        )[0]
        if perks
        else {}
    )
    perk_counts = [
        {"perk": code, "title": title, "eligible": counts[f"p{bit}"]}
        for bit, (code, title) in enumerate(perks)
    ]
    departments = _rows(
        con,
        "SELECT c.department, count(DISTINCT resident_id) AS residents, "
        "sum(c.gained) AS points_gained, sum(c.lost) AS points_lost, sum(c.points) AS net "
        "FROM (SELECT resident_id, unnest(contributions) AS c FROM s) GROUP BY 1 ORDER BY 1",
    )
    measures = _rows(
        con,
        "SELECT measure, count(*) AS residents FROM s WHERE measure IS NOT NULL "
        "GROUP BY 1 ORDER BY 1",
    )
    histogram = [
        [row["score"], row["residents"]]
        for row in _rows(
            con,
            "SELECT score, count(*) AS residents FROM s WHERE score IS NOT NULL "
            "GROUP BY 1 ORDER BY 1",
        )
    ]
    return {
        "baseline": baseline,
        **total,
        "histogram": histogram,
        "by_district": _bands(con, "district", "district"),
        "by_age": by_age,
        "perks": perk_counts,
        "measures": measures,
        "departments": departments,
        "change": _change(con, previous, baseline) if previous else None,
    }


def _change(con: duckdb.DuckDBPyConnection, previous: Path, baseline: int) -> dict[str, Any]:
    _scored_view(con, "p", previous, 0, baseline)
    summary = _rows(
        con,
        "SELECT count(*) FILTER (s.resident_id IS NOT NULL AND p.resident_id IS NOT NULL) "
        "AS compared, "
        "count(*) FILTER (p.resident_id IS NULL) AS new_residents, "
        "count(*) FILTER (s.resident_id IS NULL) AS gone, "
        "count(*) FILTER (s.score IS DISTINCT FROM p.score AND s.resident_id IS NOT NULL "
        "AND p.resident_id IS NOT NULL) AS changed, "
        "count(*) FILTER (s.score > p.score) AS up, count(*) FILTER (s.score < p.score) AS down "
        "FROM s FULL OUTER JOIN p USING (resident_id)",
    )[0]
    summary["moved"] = _rows(
        con,
        "SELECT p.band AS before, s.band AS after, count(*) AS residents "
        "FROM s JOIN p USING (resident_id) WHERE s.band <> p.band GROUP BY 1, 2 ORDER BY 1, 2",
    )
    return summary
