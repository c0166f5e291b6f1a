"""Metrics: the kinds of record a department reports, and what each is worth.

A metric is one of four kinds:

- ``conduct``: scores, by fixed ``points``, by ``points_per_unit`` of the record's value
  with a stated rounding, or by ``severity`` classes each with its own points and expiry
  (a period, ``"cycle"``, or ``"never"`` for records that cannot cost points);
- ``reduction``: lowers the standing only under its ``conditions`` (standing within a
  range on the record's date, at most once per period, filed within so many days);
- ``fulfilment``: scores nothing; ends the records it ``fulfils`` (matched by incident
  reference) early, where their repair tier allows;
- ``status``: profile data that may never score.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from osmanthus.errors import RecordRefused
from osmanthus.policy.base import Code, LegalBasis, PeriodField, Strict
from osmanthus.policy.duration import Period, parse_period

__all__ = ["Effect", "Metric", "ReductionConditions", "Severity"]

_ROUNDING = {"floor": ROUND_FLOOR, "ceil": ROUND_CEILING, "half_up": ROUND_HALF_UP}


#: How long a record counts, besides a period: ``"cycle"`` (to the end of its cycle) or
#: ``"never"`` (until replaced or retracted; only for records that cannot cost points).
Expiry = Literal["cycle", "never"]


def _expiry(value: Any) -> Period | str:
    if value in ("cycle", "never") or isinstance(value, Period):
        return value  # type: ignore[no-any-return]
    try:
        return parse_period(str(value))
    except ValueError:
        raise ValueError(
            f"expected a period such as '90d', '3m' or '1y', or 'cycle' or 'never', found {value!r}"
        ) from None


#: An expiry field, given as a period's text form, ``"cycle"`` or ``"never"``.
ExpiryField = Annotated[Period | Expiry, BeforeValidator(_expiry)]


class Severity(Strict):
    """One severity class of a metric: its points and how long they count."""

    points: int
    expiry: ExpiryField
    description: str = ""


class ReductionConditions(Strict):
    """When a reduction record lowers the standing; otherwise it counts 0, with the reason."""

    standing_at_least: int | None = None
    standing_at_most: int | None = None
    once_per: PeriodField | None = None
    filed_within: PeriodField | None = None


class Effect(Strict):
    """What one record is worth and until when, once its metric and severity are known."""

    points: int
    expiry: Period | Expiry | None


class Metric(Strict):
    """A kind of record, its effect, expiry, reporters and legal basis."""

    code: str
    title: str = Field(min_length=2)
    title_zh: str | None = None
    kind: Literal["conduct", "reduction", "fulfilment", "status"] = "conduct"
    category: str = Field(min_length=2, description="Conduct category: one the charter allows.")
    reported_by: tuple[Code, ...] = Field(min_length=1)
    points: int | None = None
    points_per_unit: Decimal | None = None
    unit: str | None = None
    rounding: Literal["floor", "ceil", "half_up"] = "floor"
    severity: dict[Code, Severity] = Field(default_factory=dict)
    min_value: Decimal = Decimal(0)
    max_value: Decimal | None = None
    expiry: ExpiryField | None = None
    expiry_from: Literal["act", "decision"] = "act"
    overlie: PeriodField | None = None
    reportable_for: PeriodField | None = None  # in documents given to others, from the base date
    retain_for: PeriodField | None = None  # kept after removal, then erased ([retention])
    repair_tier: Code | None = None
    forces_grade: str | None = Field(
        default=None, description="The band a counting record forces (see forces_grade_mode)."
    )
    forces_grade_mode: Literal["cap", "set"] = Field(
        default="cap",
        description="'cap': the grade is at most forces_grade (never better); 'set': the "
        "grade is forces_grade exactly, also when the score gives a worse one.",
    )
    conditions: ReductionConditions | None = None
    fulfils: tuple[Code, ...] = ()
    legal_basis: LegalBasis | None = None
    sunset: dt.date | None = None

    @model_validator(mode="after")
    def _effect(self) -> Metric:
        ways = sum(x is not None for x in (self.points, self.points_per_unit)) + bool(self.severity)
        if self.kind in ("status", "fulfilment"):
            if ways:
                raise ValueError(f"a {self.kind} metric may not score: remove its points")
            if self.kind == "fulfilment" and not self.fulfils:
                raise ValueError("a fulfilment metric needs 'fulfils' (the metrics it ends)")
            return self
        if ways != 1:
            raise ValueError(
                "a scored metric needs exactly one of points, points_per_unit or severity"
            )
        if self.points_per_unit is not None and not self.unit:
            raise ValueError("points_per_unit needs a unit (for example 'hour')")
        if self.points_per_unit is not None and self.max_value is None:
            raise ValueError(
                "points_per_unit needs max_value (the largest value one record may carry)"
            )
        if self.kind == "conduct" and not self.severity and self.expiry is None:
            raise ValueError("'expiry' is required for a conduct metric")
        if self.kind == "reduction" and self.conditions is None:
            raise ValueError("a reduction metric needs 'conditions'")
        if self.legal_basis is None:
            raise ValueError("'legal_basis' is required for a scored metric")
        return self

    @model_validator(mode="after")
    def _forced_grade(self) -> Metric:
        if self.forces_grade_mode == "set" and self.forces_grade is None:
            raise ValueError("forces_grade_mode 'set' needs forces_grade (the band it sets)")
        return self

    @property
    def scored(self) -> bool:
        """True for metrics whose records move a score."""
        return self.kind in ("conduct", "reduction")

    def effect(self, value: Decimal | float, severity: str | None) -> Effect:
        """Points and expiry of one record (value 1 for fixed-point metrics)."""
        if self.severity:
            if severity not in self.severity:
                raise RecordRefused(
                    f"metric {self.code!r}: severity {severity!r} is not one of "
                    f"{', '.join(self.severity)}"
                )
            chosen = self.severity[severity]
            return Effect(points=chosen.points, expiry=chosen.expiry)
        if severity is not None:
            raise RecordRefused(f"metric {self.code!r} has no severity classes")
        return Effect(points=self.points_for(value), expiry=self.expiry)

    def points_for(self, value: Decimal | float) -> int:
        """Points of one record with ``value`` (fixed or per unit; 0 for unscored kinds)."""
        if self.points is not None:
            return self.points
        if self.points_per_unit is None:
            return 0
        raw = Decimal(str(value)) * self.points_per_unit
        return int(raw.quantize(Decimal(1), rounding=_ROUNDING[self.rounding]))

    def expires_on(self, act_date: dt.date) -> dt.date:
        """First day a fixed-expiry record acted on ``act_date`` no longer counts."""
        if not isinstance(self.expiry, Period):
            raise ValueError(f"metric {self.code!r} has no fixed expiry")
        return self.expiry.after(act_date)

    def check_act_date(self, act_date: dt.date) -> None:
        """Refuse an act before the legal basis took effect or after the rule's sunset."""
        if self.legal_basis is not None and act_date < self.legal_basis.effective:
            raise RecordRefused(
                f"metric {self.code!r}: act date {act_date} is before its legal basis took "
                f"effect ({self.legal_basis.effective})"
            )
        if self.sunset is not None and act_date > self.sunset:
            raise RecordRefused(
                f"metric {self.code!r}: act date {act_date} is after the rule lapsed "
                f"(sunset {self.sunset})"
            )

    def check_value(self, value: Decimal | float) -> None:
        """Raise :class:`RecordRefused` when ``value`` is outside the metric's range."""
        number = Decimal(str(value))
        if not number.is_finite():
            raise RecordRefused(f"metric {self.code!r}: value {value} is not a finite number")
        if number < self.min_value or (self.max_value is not None and number > self.max_value):
            upper = "" if self.max_value is None else f" and {self.max_value}"
            raise RecordRefused(
                f"metric {self.code!r}: value {value} is outside the range "
                f"{self.min_value}{upper or ' and above'}"
            )
        if self.points is not None and number != 1:
            raise RecordRefused(
                f"metric {self.code!r}: expected value 1 for a fixed-point metric, found {value}"
            )
