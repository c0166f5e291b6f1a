"""A synthetic city, deterministic from a seed, calibrated to the city's published shape.

Calibration (Suzhou, as reported): about 1 in 8 residents above 100, 4,731 of 13 million
(0.036%) below 100 — every one of them with an active loan-default or court-ruling
record — and everyone else exactly at 100. About 60 million records for 13 million
residents: most are old records that have expired, which is why most people stand at 100.

Residents are generated in fixed chunks of :data:`CHUNK` with numpy (no Python loop per
resident for the numbers), so the city reaches 13 million in bounded memory. The same
``(seed, residents, as_of)`` always gives the same city, ID numbers included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from osmanthus.errors import PolicyError
from osmanthus.identity import CHECK_CHARACTERS, WEIGHTS
from osmanthus.ledger import RecordBatch, ResidentBatch
from osmanthus.policy import Metric, PolicyVersion

__all__ = ["CHUNK", "DISTRICTS", "CityChunk", "CitySpec", "generate_city"]

CHUNK = 100_000

#: Suzhou's districts and county-level cities: (area code, name, population in millions).
DISTRICTS: tuple[tuple[int, str, float], ...] = (
    (320505, "huqiu", 0.8),
    (320506, "wuzhong", 1.4),
    (320507, "xiangcheng", 0.9),
    (320508, "gusu", 0.95),
    (320509, "wujiang", 1.5),
    (320571, "industrial-park", 1.1),
    (320581, "changshu", 1.7),
    (320582, "zhangjiagang", 1.4),
    (320583, "kunshan", 2.1),
    (320585, "taicang", 0.85),
)
#: Birth-place area codes of residents who moved to the city (Nanjing, Hefei, ...).
MIGRANT_AREAS = (320102, 340102, 410105, 510107, 420102, 370102, 130102, 330106)
MIGRANT_SHARE = 0.3

#: Conduct a resident above 100 earns, with relative frequency.
POSITIVE = {
    "utility_paid_on_time": 5.0,
    "social_insurance_on_time": 4.0,
    "housing_fund_on_time": 3.0,
    "volunteer_hours": 3.0,
    "charitable_donation": 2.0,
    "tax_compliance_a_grade": 1.5,
    "emergency_rescue_service": 0.5,
    "civilized_family_award": 0.5,
    "good_samaritan_commendation": 0.2,
}
#: Minor deductions that residents above 100 also carry, outweighed by their merits.
MINOR = {
    "failure_to_yield": 3.0,
    "running_red_light": 2.0,
    "fare_evasion": 1.5,
    "overdue_library_items": 1.0,
}
#: The records that put a resident below 100.
DEFAULTS = {"dishonest_judgment_debtor": 1.0, "loan_default": 1.5}
#: Old records, expired by the reference date, of every kind.
HISTORY = {
    **POSITIVE,
    **MINOR,
    "utility_arrears": 1.0,
    "illegal_dumping": 0.3,
    "illegal_construction": 0.2,
    "fire_safety_violation": 0.2,
    "public_order_detention": 0.1,
    "tax_arrears": 0.2,
    "drunk_driving": 0.1,
    "loan_default": 0.1,
    "dishonest_judgment_debtor": 0.05,
}


@dataclass(frozen=True)
class CitySpec:
    """What city to generate."""

    residents: int = 100_000
    seed: int = 2026
    as_of: dt.date = dt.date(2026, 11, 1)
    above_share: float = 1 / 8
    below_share: float = 4_731 / 13_000_000
    history_per_resident: float = 3.5


@dataclass
class CityChunk:
    """One chunk of the city: residents, their records, and the band each was built for."""

    start: int
    people: ResidentBatch
    records: RecordBatch
    band: npt.NDArray[np.int8]  # -1 below, 0 at, +1 above


def generate_city(spec: CitySpec, policy: PolicyVersion) -> Iterator[CityChunk]:
    """Yield the city chunk by chunk (each at most :data:`CHUNK` residents)."""
    _check_policy(policy)
    bands = _bands(spec)
    counter = np.zeros(len(_AREAS) * _DAYS_SPAN, dtype=np.int32)
    for index, start in enumerate(range(0, spec.residents, CHUNK)):
        rng = np.random.default_rng([spec.seed, index])
        band = bands[start : start + CHUNK]
        people = _people(rng, spec, band.shape[0], counter)
        records = _records(rng, spec, policy, band, index)
        yield CityChunk(start=start, people=people, records=records, band=band)


def _check_policy(policy: PolicyVersion) -> None:
    needed = set(HISTORY) | set(DEFAULTS)
    missing = sorted(needed - set(policy.metrics))
    if missing:
        raise PolicyError(
            f"policy {policy.name}: the synthetic city needs the Suzhou-style metrics "
            f"{', '.join(missing)}"
        )


def _bands(spec: CitySpec) -> npt.NDArray[np.int8]:
    rng = np.random.default_rng([spec.seed, 0xBA4D])
    order = rng.permutation(spec.residents)
    below = round(spec.residents * spec.below_share)
    above = round(spec.residents * spec.above_share)
    band = np.zeros(spec.residents, dtype=np.int8)
    band[order[:below]] = -1
    band[order[below : below + above]] = 1
    return band


# -- residents ------------------------------------------------------------------------

_AREAS = np.array([d[0] for d in DISTRICTS] + list(MIGRANT_AREAS), dtype=np.int64)
_EPOCH = np.datetime64("1900-01-01", "D")
_DAYS_SPAN = 46_000  # birth dates from 1900 to 2025


def _people(
    rng: np.random.Generator, spec: CitySpec, n: int, counter: npt.NDArray[np.int32]
) -> ResidentBatch:
    weights = np.array([d[2] for d in DISTRICTS])
    home = rng.choice(len(DISTRICTS), size=n, p=weights / weights.sum())
    migrant = rng.random(n) < MIGRANT_SHARE
    area = np.where(migrant, len(DISTRICTS) + rng.integers(0, len(MIGRANT_AREAS), n), home)
    ages = rng.gamma(shape=9.0, scale=5.0, size=n) + 18
    too_old = ages >= 95  # redraw the tail uniformly (clipping would pile it on one day)
    ages[too_old] = rng.uniform(18, 95, int(too_old.sum()))
    born = np.datetime64(spec.as_of, "D") - (ages * 365.25).astype(np.int64)
    day = (born - _EPOCH).astype(np.int64)
    sequence = _sequence(area * _DAYS_SPAN + day, counter)
    ymd = np.char.replace(born.astype(str), "-", "").astype(np.int64)
    body = _AREAS[area] * 10**11 + ymd * 1000 + sequence
    digits = (body[:, None] // 10 ** np.arange(16, -1, -1)) % 10
    check = np.array(list(CHECK_CHARACTERS))[(digits * WEIGHTS).sum(axis=1) % 11]
    numbers = np.array([f"{b:017d}{c}" for b, c in zip(body.tolist(), check.tolist(), strict=True)])
    names = np.array([d[1] for d in DISTRICTS])[home]
    return ResidentBatch(national_id=numbers, district=names)


def _sequence(keys: npt.NDArray[np.int64], counter: npt.NDArray[np.int32]) -> npt.NDArray[np.int64]:
    """A per-(area, birth date) sequence number unique across the whole city."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.r_[0, np.flatnonzero(ordered[1:] != ordered[:-1]) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, ordered.size]))
    rank = np.empty_like(keys)
    rank[order] = np.arange(ordered.size) - run_start
    sequence = counter[keys] + rank
    np.add.at(counter, keys, 1)
    if sequence.max(initial=0) > 999:
        raise ValueError("synthetic city: more than 1,000 residents share an area and birth date")
    return sequence.astype(np.int64)


# -- records --------------------------------------------------------------------------


@dataclass
class _Columns:
    resident: list[npt.NDArray[np.int64]]
    metric: list[npt.NDArray[np.str_]]
    value: list[npt.NDArray[np.float64]]
    act: list[npt.NDArray[np.datetime64]]

    def add(
        self,
        resident: npt.NDArray[np.int64],
        metric: npt.NDArray[np.str_],
        value: npt.NDArray[np.float64],
        act: npt.NDArray[np.datetime64],
    ) -> None:
        self.resident.append(resident)
        self.metric.append(metric)
        self.value.append(value)
        self.act.append(act)


def _records(
    rng: np.random.Generator,
    spec: CitySpec,
    policy: PolicyVersion,
    band: npt.NDArray[np.int8],
    chunk_index: int,
) -> RecordBatch:
    as_of = np.datetime64(spec.as_of, "D")
    earliest = np.datetime64(policy.effective, "D")
    cols = _Columns([], [], [], [])

    # Old, expired records for everyone.
    n_hist = rng.poisson(spec.history_per_resident, band.shape[0])
    who = np.repeat(np.arange(band.shape[0]), n_hist)
    metric = _pick(rng, HISTORY, who.shape[0])
    span = np.zeros(who.shape[0], dtype=np.int64)
    start = np.full(who.shape[0], earliest)
    for code in np.unique(metric).tolist():
        rows = metric == code
        start[rows] = np.datetime64(_earliest(policy.metrics[code], policy.effective), "D")
        span[rows] = _expired_window(policy.metrics[code], spec.as_of, start[rows][0].item())
    keep = span > 0  # a metric too young to have expired records has no history
    who, metric, start, span = who[keep], metric[keep], start[keep], span[keep]
    act = start + (rng.random(who.shape[0]) * span).astype(np.int64)
    cols.add(who, metric, _values(rng, policy, metric), act)

    # Active merits of residents above 100 (a few are volunteers of 24 hours a week).
    above = np.flatnonzero(band == 1)
    n_pos = 1 + rng.binomial(3, 0.35, above.shape[0])
    who = np.repeat(above, n_pos)
    metric = _pick(rng, POSITIVE, who.shape[0])
    cols.add(who, metric, _values(rng, policy, metric), _active_dates(rng, policy, metric, as_of))
    keen = above[rng.random(above.shape[0]) < 0.01]
    who = np.repeat(keen, 11)
    metric = np.full(who.shape[0], "volunteer_hours")
    months = np.tile(np.arange(1, 12), keen.shape[0]) * 30
    cols.add(who, metric, rng.integers(60, 110, who.shape[0]).astype(np.float64), as_of - months)

    # Minor deductions of residents above 100, only where their merits outweigh them.
    merit = np.zeros(band.shape[0], dtype=np.int64)
    for res, met, val in zip(cols.resident[1:], cols.metric[1:], cols.value[1:], strict=True):
        np.add.at(merit, res, _points(policy, met, val))
    minor = above[(rng.random(above.shape[0]) < 0.2) & (merit[above] >= 4)]
    metric = _pick(rng, MINOR, minor.shape[0])
    cols.add(minor, metric, np.ones(minor.shape[0]), _active_dates(rng, policy, metric, as_of))

    # Defaulters below 100: an active court or loan default.
    below = np.flatnonzero(band == -1)
    metric = _pick(rng, DEFAULTS, below.shape[0])
    cols.add(below, metric, np.ones(below.shape[0]), _active_dates(rng, policy, metric, as_of))
    return _batch(rng, policy, cols, chunk_index, as_of)


def _batch(
    rng: np.random.Generator,
    policy: PolicyVersion,
    cols: _Columns,
    chunk_index: int,
    as_of: np.datetime64,
) -> RecordBatch:
    resident = np.concatenate(cols.resident).astype(np.int64)
    metric = np.concatenate(cols.metric).astype(str)
    act = np.concatenate(cols.act).astype("datetime64[D]")
    order = np.lexsort((act, resident))
    resident, metric, act = resident[order], metric[order], act[order]
    value = np.concatenate(cols.value)[order]
    department = np.empty(metric.shape[0], dtype=object)
    for code in np.unique(metric).tolist():
        rows = np.flatnonzero(metric == code)
        reporters = policy.metrics[code].reported_by
        department[rows] = np.array(reporters)[rng.integers(0, len(reporters), rows.shape[0])]
    lag = rng.integers(0, 30, metric.shape[0])
    decision = np.minimum(act + lag, as_of)
    refs = np.array([f"SC{chunk_index:05d}-{i:07d}" for i in range(metric.shape[0])])
    return RecordBatch(
        resident=resident,
        department=department.astype(str),
        metric=metric,
        value=value,
        act_date=act,
        decision_date=decision,
        source_ref=refs,
    )


def _pick(rng: np.random.Generator, weights: dict[str, float], n: int) -> npt.NDArray[np.str_]:
    names = np.array(list(weights))
    p = np.array(list(weights.values()))
    return names[rng.choice(len(names), size=n, p=p / p.sum())]


def _values(
    rng: np.random.Generator, policy: PolicyVersion, metric: npt.NDArray[np.str_]
) -> npt.NDArray[np.float64]:
    """1 for fixed-point metrics; 10 to 60 hours for a month of volunteering."""
    value = np.ones(metric.shape[0])
    hours = metric == "volunteer_hours"
    value[hours] = rng.integers(10, 60, int(hours.sum()))
    return value


def _points(
    policy: PolicyVersion, metric: npt.NDArray[np.str_], value: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    points = np.zeros(metric.shape[0], dtype=np.int64)
    for code in np.unique(metric).tolist():
        rows = metric == code
        points[rows] = [policy.metrics[code].points_for(v) for v in value[rows].tolist()]
    return points


def _earliest(metric: Metric, effective: dt.date) -> dt.date:
    """The first day an act can be recorded: the policy and the legal basis both in force."""
    basis = metric.legal_basis.effective if metric.legal_basis else effective
    return max(basis, effective)


def _expired_window(metric: Metric, as_of: dt.date, earliest: dt.date) -> int:
    """Days after ``earliest`` in which an act is expired (with a month to spare) by ``as_of``."""
    latest = as_of - dt.timedelta(days=30)
    while metric.expires_on(latest) > as_of - dt.timedelta(days=30):
        latest -= dt.timedelta(days=30)
    return max(0, (latest - earliest).days)


def _active_dates(
    rng: np.random.Generator,
    policy: PolicyVersion,
    metric: npt.NDArray[np.str_],
    as_of: np.datetime64,
) -> npt.NDArray[np.datetime64]:
    """Act dates that still count on ``as_of`` with at least 30 days to run."""
    life = np.zeros(metric.shape[0], dtype=np.int64)
    for code in np.unique(metric).tolist():
        m = policy.metrics[code]
        start = dt.date(2001, 1, 1)
        life[metric == code] = (m.expires_on(start) - start).days - 31
    back = (rng.random(metric.shape[0]) * np.maximum(life, 1)).astype(np.int64) + 1
    return as_of - back
