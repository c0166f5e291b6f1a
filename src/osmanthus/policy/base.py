"""Building blocks shared by every part of a policy: strict models, codes, citations."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from osmanthus.policy.duration import Period, parse_period

__all__ = ["Code", "LegalBasis", "PeriodField", "Strict", "as_period"]

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]


class Strict(BaseModel):
    """A frozen model that refuses unknown fields (a misspelt key never vanishes)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def as_period(value: Any) -> Period:
    """Accept a :class:`Period` or its text form (``90d``, ``3m``, ``1y``)."""
    return value if isinstance(value, Period) else parse_period(str(value))


#: A period field, given in text form in the policy file.
PeriodField = Annotated[Period, BeforeValidator(as_period)]


class LegalBasis(Strict):
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
