"""Typed policy objects, validated on load.

A policy version is a scale, the departments that may report, and the metrics they
report. Every scored metric cites its legal basis (instrument, article, effective date);
a metric in a prohibited data category, or a status metric that would score, does not
load. The full policy language (bands, caps, cycles, reductions, measures, perks) grows
from these objects.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from osmanthus.errors import RecordRefused
from osmanthus.policy.categories import PROHIBITED_CATEGORIES, is_prohibited
from osmanthus.policy.duration import Period, parse_period

__all__ = ["Department", "LegalBasis", "Metric", "PolicyVersion", "Scale"]

_ROUNDING = {"floor": ROUND_FLOOR, "ceil": ROUND_CEILING, "half_up": ROUND_HALF_UP}
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LegalBasis(_Strict):
    """The instrument and article that allow a rule, and when it took effect."""

    instrument: str = Field(min_length=3, description="Name of the law or regulation.")
    article: str = Field(min_length=1, description="Article, paragraph or item.")
    effective: dt.date = Field(description="Date the cited provision took effect.")
    example: bool = Field(
        default=False, description="True when the citation is illustrative, not real law."
    )
    url: str | None = None

    def cite(self) -> str:
        """One-line citation, e.g. ``Regulation X, Art. 14 (in force 2013-03-15)``."""
        label = " [example]" if self.example else ""
        return f"{self.instrument}, {self.article} (in force {self.effective}){label}"


class Scale(_Strict):
    """Baseline every resident starts at, and the floor and ceiling of the score."""

    baseline: int
    floor: int
    ceiling: int

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if not self.floor <= self.baseline <= self.ceiling:
            raise ValueError(
                f"expected floor <= baseline <= ceiling, found {self.floor}, "
                f"{self.baseline}, {self.ceiling}"
            )
        return self

    def clamp(self, raw: int) -> int:
        """``raw`` held between floor and ceiling."""
        return max(self.floor, min(self.ceiling, raw))


class Department(_Strict):
    """A government department that reports records."""

    name: str = Field(min_length=2)
    name_zh: str | None = None


class Metric(_Strict):
    """A kind of conduct record, its points, expiry, reporters and legal basis."""

    code: str
    title: str = Field(min_length=2)
    title_zh: str | None = None
    kind: Literal["conduct", "status"] = "conduct"
    category: str = Field(min_length=2, description="Data category of the metric.")
    reported_by: tuple[Code, ...] = Field(min_length=1)
    points: int | None = None
    points_per_unit: Decimal | None = None
    unit: str | None = None
    rounding: Literal["floor", "ceil", "half_up"] = "floor"
    min_value: Decimal = Decimal(0)
    max_value: Decimal | None = None
    expiry: Period
    legal_basis: LegalBasis | None = None

    @field_validator("expiry", mode="before")
    @classmethod
    def _period(cls, value: object) -> Period:
        if isinstance(value, Period):
            return value
        return parse_period(str(value))

    @field_validator("category")
    @classmethod
    def _allowed_category(cls, value: str) -> str:
        if is_prohibited(value):
            raise ValueError(
                f"data category {value!r} is prohibited "
                f"(prohibited: {', '.join(sorted(PROHIBITED_CATEGORIES))})"
            )
        return value

    @model_validator(mode="after")
    def _effect(self) -> Metric:
        if self.kind == "status":
            if self.points is not None or self.points_per_unit is not None:
                raise ValueError("a status metric may not score: remove points")
            return self
        if (self.points is None) == (self.points_per_unit is None):
            raise ValueError("a conduct metric needs exactly one of points or points_per_unit")
        if self.points_per_unit is not None and not self.unit:
            raise ValueError("points_per_unit needs a unit (for example 'hour')")
        if self.legal_basis is None:
            raise ValueError("'legal_basis' is required for a scored metric")
        return self

    @property
    def scored(self) -> bool:
        """True for conduct metrics, which move a score."""
        return self.kind == "conduct"

    def points_for(self, value: Decimal | float) -> int:
        """Points of one record with ``value`` (a count of 1 for fixed-point metrics)."""
        if self.points is not None:
            return self.points
        assert self.points_per_unit is not None
        raw = Decimal(str(value)) * self.points_per_unit
        return int(raw.quantize(Decimal(1), rounding=_ROUNDING[self.rounding]))

    def expires_on(self, act_date: dt.date) -> dt.date:
        """First day on which a record of this metric no longer counts."""
        return self.expiry.after(act_date)

    def check_act_date(self, act_date: dt.date) -> None:
        """Raise :class:`RecordRefused` when the act predates the metric's legal basis."""
        if self.legal_basis is not None and act_date < self.legal_basis.effective:
            raise RecordRefused(
                f"metric {self.code!r}: act date {act_date} is before its legal basis took "
                f"effect ({self.legal_basis.effective})"
            )

    def check_value(self, value: Decimal | float) -> None:
        """Raise :class:`RecordRefused` when ``value`` is outside the metric's range."""
        number = Decimal(str(value))
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


class PolicyVersion(_Strict):
    """One version of a policy, in force from ``effective``."""

    name: str
    version: str
    title: str
    effective: dt.date
    source: str = Field(default="", description="File the version was loaded from.")
    scale: Scale
    departments: dict[Code, Department]
    metrics: dict[Code, Metric]

    @model_validator(mode="after")
    def _reporters_known(self) -> PolicyVersion:
        for metric in self.metrics.values():
            for department in metric.reported_by:
                if department not in self.departments:
                    raise ValueError(
                        f"metric {metric.code!r}: reported_by names unknown department "
                        f"{department!r}"
                    )
        return self

    def metric(self, code: str) -> Metric:
        """The metric called ``code``, or :class:`RecordRefused`."""
        try:
            return self.metrics[code]
        except KeyError:
            raise RecordRefused(
                f"metric {code!r} is not in policy {self.name} {self.version}"
            ) from None

    def check_report(
        self,
        department: str,
        metric_code: str,
        value: Decimal | float,
        act_date: dt.date | None = None,
    ) -> Metric:
        """Check that ``department`` may report ``metric_code`` with ``value`` for an act on
        ``act_date``."""
        if department not in self.departments:
            raise RecordRefused(f"department {department!r} is not in policy {self.name}")
        metric = self.metric(metric_code)
        if department not in metric.reported_by:
            raise RecordRefused(
                f"department {department!r} may not report metric {metric_code!r} "
                f"(allowed: {', '.join(metric.reported_by)})"
            )
        metric.check_value(value)
        if act_date is not None:
            metric.check_act_date(act_date)
        return metric
