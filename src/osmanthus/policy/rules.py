"""The policy's rules beyond single metrics: caps, cycles, staged measures, perks, repair
tiers, scope and the profile data a rule may need."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator

from osmanthus.policy.base import Code, LegalBasis, PeriodField, Strict
from osmanthus.policy.duration import Period

__all__ = [
    "DEFAULT_PURPOSE",
    "ELIGIBILITY_CHECK",
    "Cap",
    "Clearance",
    "Cycle",
    "During",
    "Measure",
    "Perk",
    "ProfileAttribute",
    "Purpose",
    "RepairTier",
    "Scope",
    "SkipRule",
]

_ROLLING = re.compile(r"^rolling:(\d+)d$")


class Cap(Strict):
    """At most ``max_gain`` points up and ``max_loss`` points down per resident per window.

    The cap covers ``metrics`` (or every scored metric when empty) except ``exempt``.
    Windows: ``day``, ``month``, ``year`` (calendar, by act date), ``cycle``,
    ``rolling:<N>d`` (the N days ending on the act date), or ``lifetime`` (one window that
    never resets: every act of the resident shares it). Records are applied in act-date
    order; a record that would pass the cap counts only the remainder. Points absorbed by
    a cap never come back, not even when earlier records of the window expire.
    """

    name: str = Field(min_length=1)
    metrics: tuple[Code, ...] = ()
    exempt: tuple[Code, ...] = ()
    window: str
    max_gain: int | None = Field(default=None, ge=0)
    max_loss: int | None = Field(default=None, ge=0)
    legal_basis: LegalBasis | None = None

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        if value in ("day", "month", "year", "cycle", "lifetime") or _ROLLING.match(value):
            return value
        raise ValueError(
            "expected a window of day, month, year, cycle, lifetime or rolling:<N>d, "
            f"found {value!r}"
        )

    @model_validator(mode="after")
    def _some_limit(self) -> Cap:
        if self.max_gain is None and self.max_loss is None:
            raise ValueError("a cap needs max_gain, max_loss or both")
        return self

    def applies_to(self, metric: str) -> bool:
        """True when records of ``metric`` count against this cap."""
        return (not self.metrics or metric in self.metrics) and metric not in self.exempt

    @property
    def rolling_days(self) -> int | None:
        """N of a ``rolling:<N>d`` window, else None."""
        match = _ROLLING.match(self.window)
        return int(match.group(1)) if match else None


class Cycle(Strict):
    """Points count within a cycle anchored on a per-resident date and reset at its end.

    Cycles run back to back from the resident's ``anchor`` date (a profile attribute),
    each ``length`` long: a licence issued on 4 November gives cycles from 4 November to
    3 November.
    """

    length: PeriodField
    anchor: Code

    def bounds(self, anchor: dt.date, on: dt.date) -> tuple[dt.date, dt.date]:
        """Start (inclusive) and end (exclusive) of the cycle that holds ``on``."""
        start = anchor
        if on < anchor:
            raise ValueError(f"date {on} is before the cycle anchor {anchor}")
        step = 0
        while True:
            end = Period(self.length.amount * (step + 1), self.length.unit).after(anchor)
            if on < end:
                return start, end
            start, step = end, step + 1


class SkipRule(Strict):
    """What happens when a stage is reached without the previous stage's measure."""

    reduce_to: int


class During(Strict):
    """A period counted from a per-resident profile date, such as a probation: from the
    ``anchor`` date (inclusive) for ``length``. A resident with no anchor date is never
    within it."""

    anchor: Code
    length: PeriodField

    def holds(self, anchor: dt.date | None, on: dt.date) -> bool:
        """True when ``on`` falls within the period that starts on ``anchor``."""
        return anchor is not None and anchor <= on < self.length.after(anchor)

    def describe(self) -> str:
        """``the first 2 years from licence_issued``."""
        return f"the first {self.length.describe()} from {self.anchor}"


class Measure(Strict):
    """A staged measure: taken when the standing reaches ``at_least`` (or ``at_most`` for
    a score where higher is better), assessed on the standing on the date of the latest
    act.

    - ``during``: the stage applies only on dates within a period counted from a
      per-resident profile date (a probation): a lower threshold for new drivers.
    - ``lasts``: the measure runs for this long from the day it is taken; with
      ``then_reset_to``, its end clears every record counting that day and sets the
      standing to that value, and the ladder starts again from there.
    - ``repeats``: once the standing falls back below the threshold the stage is open
      again, and reaching it anew takes the measure again. Without it, a stage once
      reached keeps its measure even after points expire.
    """

    name: str = Field(min_length=1)
    at_least: int | None = None
    at_most: int | None = None
    description: str = ""
    if_previous_not_taken: SkipRule | None = None
    during: During | None = None
    lasts: PeriodField | None = None
    then_reset_to: int | None = None
    repeats: bool = False
    legal_basis: LegalBasis | None = None

    @model_validator(mode="after")
    def _one_threshold(self) -> Measure:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("a measure needs exactly one of at_least or at_most")
        if self.legal_basis is None:
            raise ValueError("'legal_basis' is required for a measure")
        if self.then_reset_to is not None:
            if self.lasts is None:
                raise ValueError("then_reset_to needs lasts: the standing resets when it ends")
            if self.reached(self.then_reset_to):
                raise ValueError(
                    f"then_reset_to {self.then_reset_to} reaches the measure's own threshold: "
                    "a reset must leave the stage"
                )
        return self

    @property
    def threshold(self) -> int:
        """The standing at which the stage is reached."""
        found = self.at_least if self.at_least is not None else self.at_most
        assert found is not None
        return found

    def reached(self, standing: int) -> bool:
        """True when ``standing`` reaches this stage."""
        if self.at_least is not None:
            return standing >= self.at_least
        assert self.at_most is not None
        return standing <= self.at_most

    def applies(self, profile: Mapping[str, dt.date], on: dt.date) -> bool:
        """True when the stage applies on ``on`` to a resident with ``profile``."""
        return self.during is None or self.during.holds(profile.get(self.during.anchor), on)


class Clearance(Strict):
    """Clean-period clearance: a record of the group (``metrics``, or every scored metric
    when empty) stops counting once ``clean_for`` has passed after the latest act of the
    group with no new record of the group acted in between; a new record within that
    time keeps the whole group counting (each record still ends on its own expiry)."""

    name: str = Field(min_length=1)
    metrics: tuple[Code, ...] = ()
    clean_for: PeriodField
    description: str = ""
    legal_basis: LegalBasis | None = None

    @model_validator(mode="after")
    def _cited(self) -> Clearance:
        if self.legal_basis is None:
            raise ValueError("'legal_basis' is required for a clearance")
        return self

    def covers(self, metric: str) -> bool:
        """True when records of ``metric`` belong to the group (scored metrics only)."""
        return not self.metrics or metric in self.metrics


#: The purpose a provider states for a perk that lists none of its own.
DEFAULT_PURPOSE = "eligibility_check"


class Purpose(Strict):
    """Why a provider asks about a resident, as the resident reads it in their access
    log (in their language)."""

    title: str = Field(min_length=2, max_length=200)
    title_zh: str | None = Field(default=None, max_length=200)


#: What :data:`DEFAULT_PURPOSE` means, unless the policy says otherwise.
ELIGIBILITY_CHECK = Purpose(
    title="checking eligibility for a benefit",
    title_zh="核验享受权益的资格",
)


class Perk(Strict):
    """A benefit that depends on the score or grade, with provider and validity.

    An eligibility decision is valid from the day it is made through the day before
    ``valid_for`` has passed (``valid_until`` names that last day). An ``essential``
    service is available to everyone, in the scheme's scope or not."""

    code: str
    title: str = Field(min_length=2)
    title_zh: str | None = None
    provider: str = Field(min_length=2)
    description: str = ""
    min_score: int | None = None
    max_score: int | None = None
    grades: tuple[str, ...] = ()
    valid_for: PeriodField
    essential: bool = False
    legal_basis: LegalBasis | None = None
    sunset: dt.date | None = None
    purposes: tuple[Code, ...] = ()

    @property
    def allowed_purposes(self) -> tuple[str, ...]:
        """The purpose codes a provider may state for this perk."""
        return self.purposes or (DEFAULT_PURPOSE,)

    @model_validator(mode="after")
    def _condition(self) -> Perk:
        gated = self.min_score is not None or self.max_score is not None or bool(self.grades)
        if self.essential and gated:
            raise ValueError(
                "an essential service (emergency care, schooling, utilities) may not depend "
                "on the score: remove min_score, max_score and grades"
            )
        if not self.essential and not gated:
            raise ValueError("a perk needs min_score, max_score or grades")
        low, high = self.min_score, self.max_score
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_score {low} is above max_score {high}")
        if self.legal_basis is None:
            raise ValueError("'legal_basis' is required for a perk")
        return self

    def eligible(self, score: int, grade: str | None) -> bool:
        """True when a resident with ``score`` and ``grade`` qualifies."""
        if self.min_score is not None and score < self.min_score:
            return False
        if self.max_score is not None and score > self.max_score:
            return False
        return not self.grades or grade in self.grades


class RepairTier(Strict):
    """A repair tier: the minimum period before early repair may be requested, the
    maximum life after which a record stops counting, whether an obligation-fulfilled
    event ends a record early (never before the minimum period has passed), and whether
    an application for early repair needs the obligation fulfilled first."""

    min_period: PeriodField
    max_life: PeriodField
    fulfilment_ends_early: bool = False
    requires_fulfilment: bool = False
    legal_basis: LegalBasis | None = None

    @model_validator(mode="after")
    def _cited(self) -> RepairTier:
        if self.legal_basis is None:
            raise ValueError("'legal_basis' is required for a repair tier")
        return self


class Scope(Strict):
    """Who the scheme applies to: a minimum age (years reached in the calendar year) and a
    minimum residence (from the profile attribute ``resident_since``)."""

    min_age: int | None = Field(default=None, ge=0)
    min_residence: PeriodField | None = None
    residence_attribute: Code = "resident_since"


class ProfileAttribute(Strict):
    """Profile data a rule needs (a cycle anchor, a residence date); it never scores."""

    code: str
    title: str = Field(min_length=2)
    type: Literal["date"] = "date"
    category: str = Field(min_length=2)
    reported_by: tuple[Code, ...] = Field(min_length=1)
    legal_basis: LegalBasis | None = None
