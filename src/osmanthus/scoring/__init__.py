"""Scoring: one resident's score with its full explanation, and the population distribution."""

from osmanthus.scoring.distribution import Distribution, distribution
from osmanthus.scoring.reference import (
    STATUS_TEXT,
    Explanation,
    PerkDecision,
    RecordLine,
    explain,
    score,
)

__all__ = [
    "STATUS_TEXT",
    "Distribution",
    "Explanation",
    "PerkDecision",
    "RecordLine",
    "distribution",
    "explain",
    "score",
]
