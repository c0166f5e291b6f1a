"""Statistics of one population run, from sums that add up over residents.

Counts above, at and below the baseline, the histogram, by district and by age band,
eligibility for each perk, staged measures, each department's contribution (points of
the records that count now: gained and lost summed record by record, and the net), and
the change since the previous run (residents whose score changed, moved between
above/at/below, appeared or left the scope).

Every figure is finished in Python from :class:`Sums`: counts and totals that add up
over any split of the residents. A full run computes them over everyone; an incremental
run takes the previous run's, removes the residents it scored again as they were and adds
them as they are now (:meth:`Sums.minus`, :meth:`Sums.plus`), so both give the same
figures by construction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from osmanthus.population.scores import scores_view

__all__ = [
    "AGE_BANDS",
    "STATS_COLUMNS",
    "Sums",
    "change_between",
    "finish",
    "population_stats",
    "sums_of",
]

#: Age bands (years reached in the calendar year of the scoring date).
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("under 18", 0, 17),
    ("18-29", 18, 29),
    ("30-44", 30, 44),
    ("45-59", 45, 59),
    ("60-74", 60, 74),
    ("75 and over", 75, 10_000),
)


@dataclass
class Sums:
    """Counts that add up over residents: residents per (district, age band, score), the
    reference path, each perk's bit, each measure, each department's residents and
    points (gained, lost, net)."""

    groups: dict[tuple[str | None, str, int | None], int] = field(default_factory=dict)
    reference: int = 0
    perks: list[int] = field(default_factory=list)
    measures: dict[str, int] = field(default_factory=dict)
    departments: dict[str, list[int]] = field(default_factory=dict)

    def plus(self, other: Sums, sign: int = 1) -> Sums:
        """These sums with ``other``'s added (``sign`` -1: taken away)."""
        groups: dict[Any, int] = defaultdict(int, self.groups)
        for group, n in other.groups.items():
            groups[group] += sign * n
        measures: dict[str, int] = defaultdict(int, self.measures)
        for name, n in other.measures.items():
            measures[name] += sign * n
        departments: dict[str, list[int]] = {k: list(v) for k, v in self.departments.items()}
        for department, values in other.departments.items():
            held = departments.setdefault(department, [0] * len(values))
            for i, v in enumerate(values):
                held[i] += sign * v
        width = max(len(self.perks), len(other.perks))
        mine = self.perks + [0] * (width - len(self.perks))
        theirs = other.perks + [0] * (width - len(other.perks))
        return Sums(
            groups={k: n for k, n in groups.items() if n},
            reference=self.reference + sign * other.reference,
            perks=[a + sign * b for a, b in zip(mine, theirs, strict=True)],
            measures={k: n for k, n in measures.items() if n},
            departments={k: v for k, v in departments.items() if v[0]},
        )

    def minus(self, other: Sums) -> Sums:
        return self.plus(other, -1)

    def to_json(self) -> dict[str, Any]:
        return {
            "groups": [[*key, n] for key, n in sorted(self.groups.items(), key=repr)],
            "reference": self.reference,
            "perks": self.perks,
            "measures": self.measures,
            "departments": self.departments,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sums:
        return cls(
            groups={(d, a, s): int(n) for d, a, s, n in data["groups"]},
            reference=int(data["reference"]),
            perks=[int(n) for n in data["perks"]],
            measures={k: int(n) for k, n in data["measures"].items()},
            departments={k: [int(x) for x in v] for k, v in data["departments"].items()},
        )


#: the result columns the statistics read (:func:`sums_of`, :func:`change_between`)
STATS_COLUMNS = [
    "resident_id",
    "district",
    "birth_year",
    "score",
    "perks",
    "reference",
    "measure",
    "contributions",
]


def population_stats(
    folder: Path,
    *,
    as_of: dt.date,
    baseline: int,
    perks: list[tuple[str, str]],
    previous: Path | None = None,
) -> tuple[dict[str, Any], Sums]:
    """The statistics of the run in ``folder`` (compared with the run in ``previous`` if
    given), and the sums they were finished from."""
    con = duckdb.connect()
    try:
        scores_view(con, "s", folder)
        sums = sums_of(con, "s", as_of.year, len(perks), "s_contributions")
        change = None
        if previous is not None:
            scores_view(con, "p", previous)
            change = change_between(con, "s", "p", baseline)
        return finish(sums, baseline, perks, change), sums
    finally:
        con.close()


def sums_of(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    year: int,
    perks: int,
    contributions: str | None = None,
) -> Sums:
    """The sums of the residents in ``relation`` (scored in ``year``); their points per
    department from ``contributions`` (one row per resident and department) if given,
    else from ``relation``'s list column."""
    ages = " ".join(
        f"WHEN {int(year)} - birth_year BETWEEN {lo} AND {hi} THEN '{name}'"
        for name, lo, hi in AGE_BANDS
    )
    groups = {
        (district, band, score): int(n)
        for district, band, score, n in con.sql(
            f"SELECT district, CASE {ages} ELSE 'unknown' END, score, count(*) "
            f"FROM {relation} GROUP BY ALL"
        ).fetchall()
    }
    bits = ", ".join(
        [f"count(*) FILTER ((perks >> {bit}) & 1 = 1)" for bit in range(perks)]
        + ["count(*) FILTER (reference)"]
    )
    *perk_counts, reference = con.execute(f"SELECT {bits} FROM {relation}").fetchall()[0]
    measures = dict(
        con.execute(
            f"SELECT measure, count(*) FROM {relation} WHERE measure IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    flat = contributions or (
        f"(SELECT resident_id, unnest(contributions, recursive := true) FROM {relation})"
    )
    departments = {
        name: [int(r), int(g or 0), int(lost or 0), int(net or 0)]
        for name, r, g, lost, net in con.sql(
            "SELECT c.department, count(DISTINCT resident_id), sum(c.gained), sum(c.lost), "
            f"sum(c.points) FROM {flat} AS c GROUP BY 1"
        ).fetchall()
    }
    return Sums(
        groups=groups,
        reference=int(reference or 0),
        perks=[int(n or 0) for n in perk_counts],
        measures={k: int(n) for k, n in measures.items()},
        departments=departments,
    )


def _band(score: int | None, baseline: int) -> str:
    if score is None:
        return "out_of_scope"
    return "above" if score > baseline else "at" if score == baseline else "below"


def _counts(rows: list[tuple[int | None, int]], baseline: int) -> dict[str, Any]:
    """Residents, the bands and the mean score of (score, residents) pairs."""
    out: dict[str, Any] = {"residents": sum(n for _, n in rows)}
    for band in ("above", "at", "below", "out_of_scope"):
        out[band] = sum(n for s, n in rows if _band(s, baseline) == band)
    scored = [(s, n) for s, n in rows if s is not None]
    count = sum(n for _, n in scored)
    out["mean_score"] = round(sum(s * n for s, n in scored) / count, 3) if count else None
    return out


def finish(
    sums: Sums,
    baseline: int,
    perks: list[tuple[str, str]],
    change: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The statistics as the CLI, the dashboard and run.json show them."""
    every = [(score, n) for (_, _, score), n in sums.groups.items()]
    histogram: dict[int, int] = defaultdict(int)
    for score, n in every:
        if score is not None:
            histogram[score] += n
    counts = _counts(every, baseline)
    total = {
        "residents": counts["residents"],
        "in_scope": counts["residents"] - counts["out_of_scope"],
        **{k: counts[k] for k in ("above", "at", "below", "out_of_scope")},
        "lowest": min(histogram, default=None),
        "highest": max(histogram, default=None),
        "mean_score": counts["mean_score"],
        "reference_path": sums.reference,
    }
    order = {name: i for i, (name, _, _) in enumerate(AGE_BANDS)}
    return {
        "baseline": baseline,
        **total,
        "histogram": [[score, histogram[score]] for score in sorted(histogram)],
        "by_district": _by(sums, 0, "district", baseline, key=lambda d: (d is None, d or "")),
        "by_age": _by(sums, 1, "age_band", baseline, key=lambda a: order.get(a, len(order))),
        "perks": [
            {"perk": code, "title": title, "eligible": sums.perks[bit] if sums.perks else 0}
            for bit, (code, title) in enumerate(perks)
        ],
        "measures": [
            {"measure": name, "residents": n} for name, n in sorted(sums.measures.items())
        ],
        "departments": [
            {
                "department": name,
                "residents": values[0],
                "points_gained": values[1],
                "points_lost": values[2],
                "net": values[3],
            }
            for name, values in sorted(sums.departments.items())
        ],
        "change": change,
    }


def _by(sums: Sums, index: int, label: str, baseline: int, key: Any) -> list[dict[str, Any]]:
    rows: dict[Any, list[tuple[int | None, int]]] = defaultdict(list)
    for group, n in sums.groups.items():
        rows[group[index]].append((group[2], n))
    return [{label: name} | _counts(rows[name], baseline) for name in sorted(rows, key=key)]


def change_between(
    con: duckdb.DuckDBPyConnection,
    now: str,
    before: str,
    baseline: int,
    *,
    residents: int | None = None,
) -> dict[str, Any]:
    """How ``now`` differs from ``before`` (relations of results). ``residents``: the
    number of residents in the whole run now, when ``now`` and ``before`` hold only the
    residents scored again (the others are the same in both)."""
    b = int(baseline)
    band = (
        "CASE WHEN {t}.score IS NULL THEN 'out of scope' WHEN {t}.score > " + str(b) + " THEN "
        "'above' WHEN {t}.score = " + str(b) + " THEN 'at' ELSE 'below' END"
    )
    summary = dict(
        zip(
            ("compared", "new_residents", "gone", "changed", "up", "down"),
            con.execute(
                "SELECT count(*) FILTER (s.resident_id IS NOT NULL AND p.resident_id IS NOT "
                "NULL), count(*) FILTER (p.resident_id IS NULL), "
                "count(*) FILTER (s.resident_id IS NULL), "
                "count(*) FILTER (s.score IS DISTINCT FROM p.score AND s.resident_id IS NOT "
                "NULL AND p.resident_id IS NOT NULL), "
                "count(*) FILTER (s.score > p.score), count(*) FILTER (s.score < p.score) "
                f"FROM {now} s FULL OUTER JOIN {before} p USING (resident_id)"
            ).fetchall()[0],
            strict=True,
        )
    )
    summary = {k: int(v) for k, v in summary.items()}
    if residents is not None:  # the residents not scored again are in both, unchanged
        summary["compared"] = residents - summary["new_residents"]
    summary["moved"] = [
        {"before": x, "after": y, "residents": int(n)}
        for x, y, n in con.sql(
            f"SELECT {band.format(t='p')}, {band.format(t='s')}, count(*) FROM {now} s "
            f"JOIN {before} p USING (resident_id) WHERE {band.format(t='s')} <> "
            f"{band.format(t='p')} GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    ]
    return summary
