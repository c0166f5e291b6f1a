"""Scoring: one resident's score with its full explanation, and the population distribution."""

from osmanthus.scoring.author_tests import Case, CaseResult, load_cases, run_case, run_cases
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
    "Case",
    "CaseResult",
    "Distribution",
    "Explanation",
    "PerkDecision",
    "RecordLine",
    "distribution",
    "explain",
    "load_cases",
    "run_case",
    "run_cases",
    "score",
]
