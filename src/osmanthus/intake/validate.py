"""Row-level validation of a batch, column by column (Arrow and numpy, no loop per row).

Each check marks the rows it refuses and says why; the report lists, for every refused
row, the row number (1-based, as a spreadsheet shows data rows), the field, the value
(truncated) and the reason. Text fields are taken as they are and stored inertly: a
value such as ``=HYPERLINK(...)`` is data, never a formula.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from osmanthus.identity.national_id import invalid_rows
from osmanthus.policy import PolicySet

__all__ = ["Problem", "Validated", "validate_batch"]

SHOWN = 40  # characters of a refused value shown in the report
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_NUMBER = r"^-?\d+(\.\d+)?$"
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


@dataclass(frozen=True)
class Problem:
    """One refused field of one row."""

    row: int
    field: str
    value: str
    reason: str


@dataclass
class Validated:
    """The batch's parsed columns and the problems found; ``ok`` marks clean rows."""

    rows: int
    ok: npt.NDArray[np.bool_]
    problems: list[Problem] = field(default_factory=list)
    act_date: npt.NDArray[np.datetime64] | None = None
    decision_date: npt.NDArray[np.datetime64] | None = None
    value: npt.NDArray[np.float64] | None = None

    def refuse(
        self, mask: npt.NDArray[np.bool_], column: pa.ChunkedArray | None, name: str, reason: str
    ) -> None:
        """Refuse every row in ``mask`` for ``reason`` about field ``name``."""
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return
        values = column.take(pa.array(rows)).to_pylist() if column is not None else []
        for index, row in enumerate(rows.tolist()):
            shown = "" if not values else str(values[index] if values[index] is not None else "")
            if len(shown) > SHOWN:
                shown = shown[:SHOWN] + "…"
            self.problems.append(Problem(row + 1, name, shown, reason))
        self.ok &= ~mask


def _text(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name in table.column_names:
        return table.column(name)
    return pa.chunked_array([pa.array([""] * table.num_rows, pa.string())])


def _dates(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.bool_]]:
    """Parse YYYY-MM-DD strictly (no 30 February); return dates and the bad-row mask."""
    shaped = pc.fill_null(pc.match_substring_regex(column, _DATE), False).to_numpy()
    text = np.asarray(column.to_pylist(), dtype=object)
    safe = np.where(shaped, text, "2000-01-01").astype("U10")
    year = np.char.ljust(safe, 10).view(np.uint32).reshape(-1, 10) - ord("0")
    y = year[:, 0] * 1000 + year[:, 1] * 100 + year[:, 2] * 10 + year[:, 3]
    m = year[:, 5] * 10 + year[:, 6]
    d = year[:, 8] * 10 + year[:, 9]
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    limit = _MONTH_DAYS[np.clip(m, 0, 12)] + ((m == 2) & leap)
    real = shaped & (m >= 1) & (m <= 12) & (d >= 1) & (d <= limit) & (y >= 1900)
    dates = np.where(real, safe, "2000-01-01").astype("datetime64[D]")
    return dates, ~real


def validate_batch(
    table: pa.Table, policy: PolicySet, department: str, today: dt.date
) -> Validated:
    """Check every row of ``table`` as ``department`` reporting under ``policy``."""
    n = table.num_rows
    result = Validated(rows=n, ok=np.ones(n, dtype=bool))
    ids = _text(table, "national_id")
    numbers = np.asarray(pc.utf8_upper(pc.utf8_trim_whitespace(ids)).to_pylist(), dtype=str)
    bad_id = np.zeros(n, dtype=bool)
    bad_id[invalid_rows(numbers, today=today)] = True
    result.refuse(
        bad_id,
        ids,
        "national_id",
        "not a valid national ID (length, characters, birth date or check digit)",
    )

    acts, bad_act = _dates(_text(table, "act_date"))
    decisions, bad_decision = _dates(_text(table, "decision_date"))
    result.refuse(bad_act, _text(table, "act_date"), "act_date", "expected a real date YYYY-MM-DD")
    result.refuse(
        bad_decision,
        _text(table, "decision_date"),
        "decision_date",
        "expected a real date YYYY-MM-DD",
    )
    limit = np.datetime64(today, "D")
    result.refuse(
        ~bad_act & (acts > limit),
        _text(table, "act_date"),
        "act_date",
        f"in the future (today is {today})",
    )
    result.refuse(
        ~bad_act & ~bad_decision & (decisions < acts),
        _text(table, "decision_date"),
        "decision_date",
        "before the act date",
    )

    raw_values = _text(table, "value") if "value" in table.column_names else None
    numbers_ok = np.ones(n, dtype=bool)
    if raw_values is None:
        values = np.ones(n)
    else:
        blank = pc.equal(pc.utf8_trim_whitespace(raw_values), "").to_numpy(zero_copy_only=False)
        numeric = pc.fill_null(
            pc.match_substring_regex(pc.utf8_trim_whitespace(raw_values), _NUMBER), False
        ).to_numpy(zero_copy_only=False)
        result.refuse(~blank & ~numeric, raw_values, "value", "expected a number")
        numbers_ok = blank | numeric
        text = np.asarray(pc.utf8_trim_whitespace(raw_values).to_pylist(), dtype=object)
        values = np.where(numeric, text, np.where(blank, "1", "0")).astype(float)

    refs = _text(table, "source_ref")
    lengths = pc.utf8_length(refs).to_numpy(zero_copy_only=False)
    nul = pc.fill_null(pc.match_substring(refs, "\x00"), False).to_numpy(zero_copy_only=False)
    result.refuse(
        (lengths == 0) | (lengths > 128) | nul,
        refs,
        "source_ref",
        "expected 1 to 128 characters without NUL",
    )
    ref_list = refs.to_pylist()
    if len(set(ref_list)) != n:
        seen: set[str] = set()
        repeated = np.zeros(n, dtype=bool)
        for row, ref in enumerate(ref_list):  # only when there are repeats
            repeated[row] = ref in seen
            seen.add(ref)
        result.refuse(repeated, refs, "source_ref", "repeats an earlier row of this batch")

    _check_metrics(result, table, policy, department, acts, ~bad_act, values, numbers_ok)
    result.act_date, result.decision_date, result.value = acts, decisions, values
    result.problems.sort(key=lambda p: (p.row, p.field))
    return result


def _check_metrics(
    result: Validated,
    table: pa.Table,
    policy: PolicySet,
    department: str,
    acts: npt.NDArray[np.datetime64],
    dated: npt.NDArray[np.bool_],
    values: npt.NDArray[np.float64],
    numbers_ok: npt.NDArray[np.bool_],
) -> None:
    metrics = _text(table, "metric")
    codes = np.asarray(metrics.to_pylist(), dtype=object)
    severities = np.asarray(_text(table, "severity").to_pylist(), dtype=object)
    for code in sorted(set(codes.tolist())):
        rows = codes == code
        for version in policy.versions:
            start = np.datetime64(version.effective, "D")
            later = [v.effective for v in policy.versions if v.effective > version.effective]
            end = np.datetime64(min(later), "D") if later else np.datetime64("9999-12-31")
            here = rows & dated & (acts >= start) & (acts < end)
            if not here.any():
                continue
            metric = version.metrics.get(code)
            if metric is None:
                result.refuse(
                    here,
                    metrics,
                    "metric",
                    f"unknown metric in policy {version.name} {version.version}",
                )
                continue
            if department not in metric.reported_by:
                result.refuse(
                    here,
                    metrics,
                    "metric",
                    f"department {department!r} may not "
                    f"report it (allowed: {', '.join(metric.reported_by)})",
                )
                continue
            high = float(metric.max_value) if metric.max_value is not None else np.inf
            wrong = (values < float(metric.min_value)) | (values > high)
            if metric.points is not None:
                wrong |= values != 1
            result.refuse(
                here & wrong & numbers_ok,
                _text(table, "value"),
                "value",
                f"outside the range of {code}",
            )
            if metric.legal_basis is not None:
                early = acts < np.datetime64(metric.legal_basis.effective, "D")
                result.refuse(
                    here & early,
                    _text(table, "act_date"),
                    "act_date",
                    f"before the legal basis of {code} took effect",
                )
            allowed = set(metric.severity) if metric.severity else {""}
            unknown = ~np.isin(severities.astype(str), sorted(allowed))
            result.refuse(
                here & unknown,
                _text(table, "severity"),
                "severity",
                f"expected one of {', '.join(sorted(allowed)) or 'none'}",
            )
        first = np.datetime64(policy.versions[0].effective, "D")
        result.refuse(
            rows & dated & (acts < first),
            _text(table, "act_date"),
            "act_date",
            "before the first version of the policy",
        )
