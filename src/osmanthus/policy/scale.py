"""The scale: baseline, floor, ceiling, direction, clamping, grade bands and limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from osmanthus.policy.base import Strict

__all__ = ["Band", "Limits", "Scale"]


class Band(Strict):
    """A named grade: a range of scores with each edge stated as inclusive or exclusive.

    Give a lower edge with ``at_least`` (inclusive) or ``above`` (exclusive) and an upper
    edge with ``at_most`` (inclusive) or ``below`` (exclusive); an open edge runs to the
    floor or ceiling.
    """

    name: str = Field(min_length=1)
    at_least: int | None = None
    above: int | None = None
    at_most: int | None = None
    below: int | None = None
    description: str = ""

    @model_validator(mode="after")
    def _one_edge_each(self) -> Band:
        if self.at_least is not None and self.above is not None:
            raise ValueError("give the lower edge once: 'at_least' or 'above'")
        if self.at_most is not None and self.below is not None:
            raise ValueError("give the upper edge once: 'at_most' or 'below'")
        return self

    @property
    def low(self) -> float:
        """Smallest integer score in the band (or minus infinity)."""
        if self.at_least is not None:
            return self.at_least
        return self.above + 1 if self.above is not None else float("-inf")

    @property
    def high(self) -> float:
        """Largest integer score in the band (or infinity)."""
        if self.at_most is not None:
            return self.at_most
        return self.below - 1 if self.below is not None else float("inf")

    def contains(self, score: int) -> bool:
        """True when ``score`` is in the band."""
        return self.low <= score <= self.high

    def describe(self) -> str:
        """The band's edges in words, e.g. ``>= 1050`` or ``960 to < 1030``."""
        parts = []
        if self.at_least is not None:
            parts.append(f">= {self.at_least}")
        if self.above is not None:
            parts.append(f"> {self.above}")
        if self.at_most is not None:
            parts.append(f"<= {self.at_most}")
        if self.below is not None:
            parts.append(f"< {self.below}")
        return " and ".join(parts) or "any score"


class Scale(Strict):
    """Baseline every resident starts at, the bounds, and how points move the score.

    ``direction`` says whether more points are better (a civic score) or worse (a
    driving-licence register). ``clamp = "final"`` holds the total between floor and
    ceiling at the end, so points absorbed by a bound come back when other points
    expire; ``clamp = "running"`` holds it after every event, so absorbed points are
    lost for good (Stack Exchange's floor; the Flensburg register's reductions).
    """

    baseline: int
    floor: int
    ceiling: int
    direction: Literal["higher_is_better", "higher_is_worse"] = "higher_is_better"
    clamp: Literal["final", "running"] = "final"
    bands: tuple[Band, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if not self.floor <= self.baseline <= self.ceiling:
            raise ValueError(
                f"expected floor <= baseline <= ceiling, found {self.floor}, "
                f"{self.baseline}, {self.ceiling}"
            )
        names = [band.name for band in self.bands]
        if len(set(names)) != len(names):
            raise ValueError("band names must be unique")
        for score in range(self.floor, self.ceiling + 1) if self.bands else ():
            holders = [band.name for band in self.bands if band.contains(score)]
            if len(holders) != 1:
                found = "no band" if not holders else "bands " + ", ".join(holders)
                raise ValueError(f"bands: score {score} falls in {found}; expected exactly one")
        return self

    def clamp_score(self, raw: int) -> int:
        """``raw`` held between floor and ceiling."""
        return max(self.floor, min(self.ceiling, raw))

    def grade(self, score: int) -> str | None:
        """The band holding ``score``, or None when the scale has no bands."""
        for band in self.bands:
            if band.contains(score):
                return band.name
        return None

    def worse(self, points: int) -> bool:
        """True when ``points`` move the standing the bad way."""
        return points < 0 if self.direction == "higher_is_better" else points > 0

    def penalty(self, points: int) -> int:
        """How many points of harm ``points`` do (0 for a gain)."""
        return abs(points) if self.worse(points) else 0

    def band_rank(self, name: str) -> int:
        """Rank of a band from worst (0) to best."""
        ordered = sorted(self.bands, key=lambda band: band.low)
        if self.direction == "higher_is_worse":
            ordered.reverse()
        return [band.name for band in ordered].index(name)


class Limits(Strict):
    """Proportionality limits no rule of the policy may exceed (principle 4).

    ``max_penalty_per_record``: the most harm one record may do. ``max_penalty_per_year``:
    the most harm all records with acts in one calendar year may do; the scorer applies
    it as a cap over every metric, and no declared loss cap may exceed it.
    """

    max_penalty_per_record: int = Field(gt=0)
    max_penalty_per_year: int | None = Field(default=None, gt=0)
