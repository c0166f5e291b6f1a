"""The straightforward pandas version of the population semantics for the example policy.

Same steps as the single DuckDB query in bench/population.py (supersession, plan with
the month-end rule, repair tiers ended by a fulfilment, one count per incident, yearly
caps in act order, final clamp, perks), written the way a pandas user would: read every
needed column, merge, group, sum. Used by bench/population.py as the "pandas" figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from osmanthus.policy import Period, PolicyVersion

COLUMNS = [
    "id",
    "resident_id",
    "metric",
    "value",
    "act_date",
    "decision_date",
    "incident_ref",
    "kind",
    "supersedes_id",
]


def _after(base: pd.Series, period: object) -> pd.Series:
    """Period.after for a whole column (months with the month-end rule, or days)."""
    if not isinstance(period, Period):
        return pd.Series(pd.NaT, index=base.index, dtype="datetime64[s]")
    if period.unit == "d":
        return base + pd.Timedelta(days=period.amount)
    months = period.amount * (12 if period.unit == "y" else 1)
    shifted = base + pd.DateOffset(months=months)
    return shifted.where(shifted.dt.day >= base.dt.day, shifted + pd.Timedelta(days=1))


def pandas_scores(
    version: PolicyVersion, as_of: np.datetime64, records: list[str], residents: list[str]
) -> pd.DataFrame:
    rec = pd.concat([pd.read_parquet(f, columns=COLUMNS) for f in records], ignore_index=True)
    for column in ("metric", "kind"):
        rec[column] = rec[column].astype(str)
    for column in ("act_date", "decision_date"):
        rec[column] = pd.to_datetime(rec[column])
    superseded = set(rec["supersedes_id"].dropna().astype("int64"))
    cur = rec[(rec["kind"] != "retraction") & ~rec["id"].isin(superseded)].copy()

    # plan: points and end of every current record, metric by metric
    cur["pts"] = 0
    cur["end"] = pd.NaT
    cur["repair_from"] = pd.NaT
    cur["scored"] = False
    cur["ends_early"] = False
    for code, metric in version.metrics.items():
        rows = cur["metric"] == code
        if not rows.any():
            continue
        part = cur.loc[rows]
        base = part["act_date"] if metric.expiry_from == "act" else part["decision_date"]
        if metric.points is not None:
            cur.loc[rows, "pts"] = metric.points
        elif metric.points_per_unit is not None:
            cur.loc[rows, "pts"] = np.floor(part["value"] * float(metric.points_per_unit))
        tier = version.repair_tiers.get(metric.repair_tier) if metric.repair_tier else None
        ends = [_after(base, metric.expiry)]
        if tier:
            ends.append(_after(base, tier.max_life))
            cur.loc[rows, "repair_from"] = _after(base, tier.min_period)
            cur.loc[rows, "ends_early"] = tier.fulfilment_ends_early
        cur.loc[rows, "end"] = pd.concat(ends, axis=1).min(axis=1)
        cur.loc[rows, "scored"] = metric.scored
    # fulfilment: the earliest later record of a metric that fulfils it, same incident
    fulfils = pd.DataFrame(
        [(code, other) for code, m in version.metrics.items() for other in m.fulfils],
        columns=["fulfilling", "metric"],
    )
    early = cur[cur["ends_early"] & cur["incident_ref"].notna()]
    if len(early) and len(fulfils):
        pairs = early[["id", "resident_id", "incident_ref", "metric", "act_date"]].merge(
            cur[["id", "resident_id", "incident_ref", "metric", "act_date"]],
            on=["resident_id", "incident_ref"],
            suffixes=("", "_o"),
        )
        pairs = pairs[(pairs["id"] != pairs["id_o"]) & (pairs["act_date_o"] >= pairs["act_date"])]
        pairs = pairs.merge(
            fulfils, left_on=["metric_o", "metric"], right_on=["fulfilling", "metric"]
        )
        first = pairs.groupby("id")["act_date_o"].min()
        hit = cur["id"].isin(first.index)
        on = cur.loc[hit, "id"].map(first)
        cur.loc[hit, "end"] = np.minimum(
            cur.loc[hit, "end"], np.maximum(on, cur.loc[hit, "repair_from"])
        )
    cur["end"] = cur["end"].fillna(pd.Timestamp("2262-01-01"))
    # one count per incident among scored acts by the date
    acted = cur[cur["scored"] & (cur["act_date"] <= as_of)].copy()
    acted["abs"] = acted["pts"].abs()
    with_incident = acted[acted["incident_ref"].notna()].sort_values(
        ["resident_id", "incident_ref", "abs", "id"], ascending=[True, True, False, True]
    )
    repeats = with_incident.duplicated(["resident_id", "incident_ref"])
    acted = acted.drop(index=with_incident.index[repeats])
    tl = acted[acted["end"] > acted["act_date"]].copy()
    # yearly caps in act order (one binding cap per record and sign, as in the example)
    tl["sign"] = np.sign(tl["pts"])
    tl["cap"] = None
    tl["limit"] = np.nan
    for cap in version.caps:
        for sign, limit in ((1, cap.max_gain), (-1, cap.max_loss)):
            if limit is not None:
                covered = [code for code in version.metrics if cap.applies_to(code)]
                rows = tl["metric"].isin(covered) & (tl["sign"] == sign)
                tl.loc[rows, ["cap", "limit"]] = [cap.name, limit]
    if version.limits.max_penalty_per_year is not None:
        rows = tl["sign"] == -1
        tl.loc[rows, ["cap", "limit"]] = ["yearly", version.limits.max_penalty_per_year]
    tl["year"] = tl["act_date"].dt.year
    tl = tl.sort_values(["resident_id", "cap", "year", "sign", "act_date", "decision_date", "id"])
    capped = tl["cap"].notna()
    used = tl[capped].groupby(["resident_id", "cap", "year", "sign"])["abs"].cumsum()
    room = (tl.loc[capped, "limit"] - (used - tl.loc[capped, "abs"])).clip(lower=0)
    tl["allowed"] = tl["pts"]
    tl.loc[capped, "allowed"] = np.minimum(tl.loc[capped, "abs"], room) * tl.loc[capped, "sign"]
    total = tl[tl["end"] > as_of].groupby("resident_id")["allowed"].sum()
    people = pd.concat([pd.read_parquet(f, columns=["id"]) for f in residents], ignore_index=True)
    scale = version.scale
    score = (scale.baseline + people["id"].map(total).fillna(0)).clip(scale.floor, scale.ceiling)
    perks = sum(
        (score >= perk.min_score).astype("int64") * (1 << bit)
        for bit, perk in enumerate(version.perks.values())
    )
    return pd.DataFrame(
        {"resident_id": people["id"], "score": score.astype("int32"), "perks": perks}
    )
