"""The dispute procedure: how long a department has to answer, how days are counted,
when an answer may be extended, and the appeal and review deadlines.

A policy version declares it in ``[procedure]``; a dispute follows the procedure of the
version in force on the day it was received, so a later version never moves the deadline
of a dispute already filed. A version without one uses :data:`DEFAULT_PROCEDURE`
(20 calendar days, as China's credit-reporting regulation gives for objections).

Counting (``docs/due-process.md`` has the table of cases):

- the day of receipt is the date in the procedure's ``time_zone`` at which the dispute
  (or the appeal) arrived;
- ``days = "calendar"`` counts every day; ``"working"`` counts Monday to Friday, less
  ``holidays``, plus ``working_weekends`` (the make-up working days of a holiday
  calendar such as China's);
- with ``receipt_is_day_one`` the day of receipt is day 1 when it is a day that counts;
  otherwise counting starts the next day. A period of N days ends on day N;
- with ``roll_to_working_day`` a calendar deadline that falls on a day that is not a
  working day moves to the next working day (as civil procedure codes do);
- an extension adds at most ``extension.max_days`` days (counted the same way) to the
  current due date, ``extension.times`` times at most, and only for the reason it names
  (``new_information``: the resident sent new information).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from osmanthus.policy.base import LegalBasis, Strict

__all__ = ["DEFAULT_PROCEDURE", "EXTENSION_REASONS", "Extension", "Procedure"]

#: Why an answer may be extended: the resident sent new information, or for any reason
#: the department gives.
EXTENSION_REASONS = ("new_information", "any")


class Extension(Strict):
    """How far and how often a department may extend its answer deadline."""

    max_days: int = Field(ge=1, le=90)
    times: int = Field(default=1, ge=1, le=3)
    when: Literal["new_information", "any"] = "new_information"


class Procedure(Strict):
    """Deadlines of the dispute procedure (see the module's documentation)."""

    answer_within: int = Field(ge=1, le=90, description="Days the department has to answer.")
    days: Literal["calendar", "working"] = "calendar"
    receipt_is_day_one: bool = False
    roll_to_working_day: bool = False
    time_zone: str = "UTC"
    holidays: tuple[dt.date, ...] = ()
    working_weekends: tuple[dt.date, ...] = ()
    extension: Extension | None = None
    appeal_within: int = Field(ge=1, le=90, description="Days the resident has to appeal.")
    review_within: int = Field(ge=1, le=90, description="Days the reviewer has to decide.")
    legal_basis: LegalBasis

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known IANA time zone") from None
        return value

    @model_validator(mode="after")
    def _calendar(self) -> Procedure:
        both = sorted(set(self.holidays) & set(self.working_weekends))
        if both:
            raise ValueError(f"{both[0]} is listed both as a holiday and as a working day")
        for day in self.working_weekends:
            if day.weekday() < 5:
                raise ValueError(f"working_weekends: {day} is not a Saturday or Sunday")
        return self

    # -- counting ---------------------------------------------------------------------

    def is_working_day(self, day: dt.date) -> bool:
        """Monday to Friday less holidays, plus make-up working weekends."""
        if day in self.working_weekends:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def received_on(self, at: dt.datetime) -> dt.date:
        """The day of receipt of something that arrived at ``at`` (aware), in the
        procedure's time zone."""
        return at.astimezone(ZoneInfo(self.time_zone)).date()

    def count(self, start: dt.date, days: int, *, first_counts: bool | None = None) -> dt.date:
        """The last day of a period of ``days`` days starting at ``start`` (the day of
        receipt or the current due date). ``first_counts`` (default: the procedure's
        ``receipt_is_day_one``) says whether ``start`` itself may be day 1."""
        first = self.receipt_is_day_one if first_counts is None else first_counts
        day = start if first else start + dt.timedelta(days=1)
        if self.days == "calendar":
            end = day + dt.timedelta(days=days - 1)
            while self.roll_to_working_day and not self.is_working_day(end):
                end += dt.timedelta(days=1)
            return end
        counted = 0
        while True:
            if self.is_working_day(day):
                counted += 1
                if counted == days:
                    return day
            day += dt.timedelta(days=1)

    def answer_due(self, received: dt.datetime) -> dt.date:
        """The department's answer deadline for a dispute received at ``received``."""
        return self.count(self.received_on(received), self.answer_within)

    def extended_due(self, due: dt.date, days: int) -> dt.date:
        """A due date extended by ``days`` (counted from the day after ``due``)."""
        return self.count(due, days, first_counts=False)

    def appeal_due(self, answered: dt.datetime) -> dt.date:
        """The last day the resident may appeal an answer given at ``answered``."""
        return self.count(self.received_on(answered), self.appeal_within)

    def review_due(self, appealed: dt.datetime) -> dt.date:
        """The reviewer's deadline for an appeal received at ``appealed``."""
        return self.count(self.received_on(appealed), self.review_within)

    def describe(self) -> str:
        """One line for people, e.g. ``20 calendar days``."""
        unit = "working days" if self.days == "working" else "calendar days"
        text = f"{self.answer_within} {unit}"
        if self.receipt_is_day_one:
            text += " (the day of receipt is day 1)"
        if self.extension is not None:
            text += f", extendable once by up to {self.extension.max_days} days"
            if self.extension.times > 1:
                text = text.replace("once", f"{self.extension.times} times")
        return text


DEFAULT_PROCEDURE = Procedure(
    answer_within=20,
    appeal_within=15,
    review_within=30,
    time_zone="Asia/Shanghai",
    legal_basis=LegalBasis(
        instrument="Regulation on the Administration of the Credit Reporting Industry",
        article="Art. 25",
        effective=dt.date(2013, 3, 15),
    ),
)
"""The procedure of a policy version that declares none: 20 calendar days to answer
(China's credit-reporting regulation, Art. 25: objections are checked within 20 days),
15 days to appeal, 30 for the reviewer."""
