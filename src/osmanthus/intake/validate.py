"""Row-level validation of a chunk of a batch, column by column (Arrow and numpy).

Each check marks the rows it refuses and says why; no Python code runs per row except to
describe a refused one. The report lists, for every refused row, the row number (1-based,
as a spreadsheet shows data rows), the field, the value (truncated) and the reason. Text
fields are taken as they are and stored inertly: a value such as ``=HYPERLINK(...)`` is
data, never a formula (reports written as CSV neutralise it, see ``report.py``).

What needs the ledger (is the resident registered, is the source reference already used,
was the incident reported by another department) is checked where the chunk is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from osmanthus.identity.columns import valid_codes
from osmanthus.identity.national_id import ID_LENGTH, mask
from osmanthus.policy import PolicySet, PolicyVersion
from osmanthus.policy.charter import prohibited_data, prohibited_refusal

__all__ = ["ACTIONS", "Problem", "Validated", "validate_batch"]

SHOWN = 40  # characters of a refused value shown in the report
LONGEST = 128  # characters in a source or incident reference
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"
#: What a row asks for: a new report, a correction of an earlier one, or its retraction.
ACTIONS = ("report", "correct", "retract")


@dataclass(frozen=True)
class Problem:
    """One refused (or flagged) field of one row."""

    row: int
    field: str
    value: str
    reason: str
    level: str = "refused"  # or "flagged": kept, but worth the department's attention


def shown(value: object, *, private: bool = False) -> str:
    """A value as the report shows it: text, at most :data:`SHOWN` characters; a national
    ID number (``private``) masked to its area code and last four characters."""
    text = "" if value is None else str(value)
    head = mask(text[:SHOWN]) if private else text[:SHOWN]
    head = head.replace("\x00", "\\x00")  # shown, and storable (PostgreSQL refuses NUL)
    return head + "…" if len(text) > SHOWN else head


@dataclass
class Validated:
    """A chunk's parsed columns and the problems found; ``ok`` marks clean rows."""

    rows: int
    first_row: int
    ok: npt.NDArray[np.bool_]
    problems: list[Problem] = field(default_factory=list)
    prohibited: dict[str, int] = field(default_factory=dict)  # category -> rows refused
    national_id: pa.ChunkedArray | None = None  # normalised (trimmed, upper-case)
    act_date: npt.NDArray[np.datetime64] | None = None
    decision_date: npt.NDArray[np.datetime64] | None = None
    value: npt.NDArray[np.float64] | None = None
    action: npt.NDArray[np.object_] | None = None

    def refuse(
        self, mask: npt.NDArray[np.bool_], column: pa.ChunkedArray | None, name: str, reason: str
    ) -> None:
        """Refuse every row in ``mask`` for ``reason`` about field ``name``."""
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return
        values = column.take(pa.array(rows)).to_pylist() if column is not None else []
        private = name == "national_id"  # never stored, not even in a report: masked
        for index, row in enumerate(rows.tolist()):
            value = "" if not values else shown(values[index], private=private)
            self.problems.append(Problem(self.first_row + row, name, value, reason))
        self.ok &= ~mask


def _text(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name in table.column_names:
        return table.column(name)
    return pa.chunked_array([pa.nulls(table.num_rows, pa.string())]).fill_null("")


def _numpy(array: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.bool_]:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _fixed_codes(
    column: pa.ChunkedArray, width: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """An ``(n, width)`` matrix of the character codes of a text column whose values have
    ``width`` ASCII characters, and which rows did; straight from Arrow's buffers, with no
    Python string per row. Other rows read as zeros."""
    n = len(column)
    sized = pc.and_(pc.equal(pc.utf8_length(column), width), pc.string_is_ascii(column))
    sized = pc.fill_null(sized, False)
    fixed = pc.if_else(sized, column, "0" * width).combine_chunks()
    offsets = np.frombuffer(fixed.buffers()[1], dtype=np.int32)[fixed.offset : fixed.offset + n + 1]
    data = np.frombuffer(fixed.buffers()[2], dtype=np.uint8)
    start = int(offsets[0]) if n else 0
    codes = data[start : start + n * width].reshape(n, width).astype(np.int32)
    return codes, _numpy(sized)


def _dates(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.bool_]]:
    """Parse YYYY-MM-DD strictly (no 30 February, no 2026-1-1); return dates and bad rows."""
    codes, sized = _fixed_codes(pc.utf8_trim_whitespace(column), 10)
    digits = codes - ord("0")
    positions = [0, 1, 2, 3, 5, 6, 8, 9]
    shaped = sized & ((digits[:, positions] >= 0) & (digits[:, positions] <= 9)).all(axis=1)
    shaped &= (codes[:, 4] == ord("-")) & (codes[:, 7] == ord("-"))
    digits = np.where(shaped[:, None], digits, 0)
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 5] * 10 + digits[:, 6]
    day = digits[:, 8] * 10 + digits[:, 9]
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    longest = _MONTH_DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    real = shaped & (year >= 1900) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= longest)
    year, month, day = np.where(real, year, 2000), np.where(real, month, 1), np.where(real, day, 1)
    months = (year - 1970) * 12 + (month - 1)
    dates = months.astype("datetime64[M]").astype("datetime64[D]") + (day - 1)
    return dates, ~real


def _nul_or_long(column: pa.ChunkedArray, longest: int) -> npt.NDArray[np.bool_]:
    lengths = pc.utf8_length(column).to_numpy(zero_copy_only=False)
    nul = _numpy(pc.fill_null(pc.match_substring(column, "\x00"), False))
    return np.asarray((lengths > longest) | nul, dtype=bool)


def validate_batch(
    table: pa.Table, policy: PolicySet, department: str, today: dt.date, *, first_row: int = 1
) -> Validated:
    """Check every row of ``table`` as ``department`` reporting under ``policy``.

    ``first_row`` is the number of the table's first row in the whole batch file.
    """
    n = table.num_rows
    result = Validated(rows=n, first_row=first_row, ok=np.ones(n, dtype=bool))
    raw_ids = _text(table, "national_id")
    ids = pc.utf8_upper(pc.utf8_trim_whitespace(raw_ids))
    codes, sized = _fixed_codes(ids, ID_LENGTH)
    result.refuse(
        ~valid_codes(codes, sized, today=today),
        raw_ids,
        "national_id",
        "not a valid national ID (length, characters, birth date or check digit)",
    )
    result.national_id = ids
    _check_dates(result, table, today)
    _check_values(result, table)
    _check_texts(result, table)
    _check_actions(result, table)
    assert result.act_date is not None and result.value is not None
    _check_metrics(result, table, policy, department)
    result.problems.sort(key=lambda p: (p.row, p.field))
    return result


def _check_dates(result: Validated, table: pa.Table, today: dt.date) -> None:
    acts, bad_act = _dates(_text(table, "act_date"))
    decisions, bad_decision = _dates(_text(table, "decision_date"))
    for name, bad in (("act_date", bad_act), ("decision_date", bad_decision)):
        result.refuse(bad, _text(table, name), name, "expected a real date YYYY-MM-DD")
    limit = np.datetime64(today, "D")
    for name, dates, bad in (
        ("act_date", acts, bad_act),
        ("decision_date", decisions, bad_decision),
    ):
        result.refuse(
            ~bad & (dates > limit), _text(table, name), name, f"in the future (today is {today})"
        )
    result.refuse(
        ~bad_act & ~bad_decision & (decisions < acts),
        _text(table, "decision_date"),
        "decision_date",
        "before the act date",
    )
    result.act_date, result.decision_date = acts, np.where(bad_act, acts, decisions)
    result.ok &= ~bad_act  # already reported; kept out of the metric checks below


def _check_values(result: Validated, table: pa.Table) -> None:
    n = result.rows
    if "value" not in table.column_names:
        result.value = np.ones(n)
        return
    raw = _text(table, "value")
    trimmed = pc.utf8_trim_whitespace(raw)
    blank = _numpy(pc.equal(trimmed, ""))
    numeric = _numpy(pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), False))
    result.refuse(~blank & ~numeric, raw, "value", "expected a number")
    text = pc.if_else(pa.array(numeric), trimmed, "1")
    values = np.asarray(pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    result.refuse(numeric & ~np.isfinite(values), raw, "value", "expected a finite number")
    result.value = np.where(np.isfinite(values), values, 1.0)


def _check_texts(result: Validated, table: pa.Table) -> None:
    refs = _text(table, "source_ref")
    empty = pc.utf8_length(pc.utf8_trim_whitespace(refs)).to_numpy(zero_copy_only=False) == 0
    result.refuse(
        empty | _nul_or_long(refs, LONGEST),
        refs,
        "source_ref",
        f"expected 1 to {LONGEST} characters without NUL",
    )
    for name, longest in (("incident_ref", LONGEST), ("supersedes", LONGEST), ("reason", 500)):
        if name in table.column_names:
            column = _text(table, name)
            result.refuse(
                _nul_or_long(column, longest),
                column,
                name,
                f"expected at most {longest} characters without NUL",
            )
    for name in ("metric", "severity"):
        column = _text(table, name)
        result.refuse(_nul_or_long(column, 64), column, name, "expected at most 64 characters")
    encoded = refs.combine_chunks().dictionary_encode()
    if len(encoded.dictionary) != result.rows:  # a reference repeated within this chunk
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        _, first = np.unique(indices, return_index=True)
        repeated = np.ones(result.rows, dtype=bool)
        repeated[first] = False
        result.refuse(repeated, refs, "source_ref", "repeats an earlier row of this batch")


def _check_actions(result: Validated, table: pa.Table) -> None:
    actions = pc.utf8_lower(pc.utf8_trim_whitespace(_text(table, "action")))
    actions = pc.if_else(pc.equal(actions, ""), "report", actions)
    known = _numpy(pc.is_in(actions, value_set=pa.array(ACTIONS)))
    result.refuse(~known, _text(table, "action"), "action", f"expected one of {', '.join(ACTIONS)}")
    result.action = np.asarray(actions.to_numpy(zero_copy_only=False), dtype=object)
    superseding = _numpy(pc.is_in(actions, value_set=pa.array(ACTIONS[1:])))  # not unknown ones
    if not superseding.any():
        return
    blank_ref = _numpy(pc.equal(pc.utf8_trim_whitespace(_text(table, "supersedes")), ""))
    blank_reason = _numpy(pc.equal(pc.utf8_trim_whitespace(_text(table, "reason")), ""))
    result.refuse(
        superseding & blank_ref,
        _text(table, "supersedes"),
        "supersedes",
        "a correction or retraction names the source_ref it supersedes",
    )
    result.refuse(
        superseding & blank_reason,
        _text(table, "reason"),
        "reason",
        "a correction or retraction gives a reason",
    )


def _check_metrics(result: Validated, table: pa.Table, policy: PolicySet, department: str) -> None:
    assert result.act_date is not None
    acts = result.act_date
    metrics = _text(table, "metric")
    severities = _text(table, "severity")
    encoded = metrics.combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    for index, code in enumerate(encoded.dictionary.to_pylist()):
        rows = (codes == index) & result.ok
        if not rows.any():
            continue
        found = prohibited_data(policy.charter, code)
        if found:
            result.prohibited[code] = result.prohibited.get(code, 0) + int(rows.sum())
            result.refuse(
                rows,
                metrics,
                "metric",
                prohibited_refusal(found, f"metric {code!r}"),
            )
            continue
        first = np.datetime64(policy.versions[0].effective, "D")
        result.refuse(
            rows & (acts < first), _text(table, "act_date"), "act_date", "before the first policy"
        )
        for number, version in enumerate(policy.versions):
            start = np.datetime64(version.effective, "D")
            later = policy.versions[number + 1 :]
            end = np.datetime64(later[0].effective, "D") if later else np.datetime64("9999-12-31")
            here = rows & (acts >= start) & (acts < end)
            if here.any():
                _check_metric(result, table, version, code, department, here, severities)


def _check_metric(
    result: Validated,
    table: pa.Table,
    version: PolicyVersion,
    code: str,
    department: str,
    here: npt.NDArray[np.bool_],
    severities: pa.ChunkedArray,
) -> None:
    assert result.act_date is not None and result.value is not None
    metrics = _text(table, "metric")
    metric = version.metrics.get(code)
    label = f"policy {version.name} {version.version}"
    if metric is None:
        result.refuse(here, metrics, "metric", f"unknown metric in {label}")
        return
    if department not in metric.reported_by:
        allowed = ", ".join(metric.reported_by)
        result.refuse(
            here,
            metrics,
            "metric",
            f"department {department!r} may not report it (allowed: {allowed})",
        )
        return
    acts, values = result.act_date, result.value
    high = float(metric.max_value) if metric.max_value is not None else np.inf
    wrong = (values < float(metric.min_value)) | (values > high)
    if metric.points is not None:
        wrong |= values != 1
        expected = "1 (one record per act)"
    else:
        top = metric.max_value if metric.max_value is not None else "any"
        expected = f"{metric.min_value} to {top}" + (f" {metric.unit}" if metric.unit else "")
    result.refuse(
        here & wrong, _text(table, "value"), "value", f"outside the range of {code}: {expected}"
    )
    if metric.legal_basis is not None:
        result.refuse(
            here & (acts < np.datetime64(metric.legal_basis.effective, "D")),
            _text(table, "act_date"),
            "act_date",
            f"before the legal basis of {code} took effect ({metric.legal_basis.effective})",
        )
    if metric.sunset is not None:
        result.refuse(
            here & (acts > np.datetime64(metric.sunset, "D")),
            _text(table, "act_date"),
            "act_date",
            f"after {code} lapsed ({metric.sunset})",
        )
    allowed_severities = sorted(metric.severity) if metric.severity else [""]
    unknown = ~_numpy(pc.is_in(severities, value_set=pa.array(allowed_severities)))
    result.refuse(
        here & unknown,
        severities,
        "severity",
        f"expected one of {', '.join(allowed_severities)}" if metric.severity else "expected none",
    )
