"""Scoring: one resident's score with its full explanation, and the population distribution.

Scoring stands on the pure core (:mod:`osmanthus.core`, :mod:`osmanthus.policy`): importing
it loads no database or dataframe library. The authors' test cases (``run_cases`` ...)
and ``Distribution`` / ``distribution`` (which read the ledger) load when first used.
"""

from typing import TYPE_CHECKING

from osmanthus.lazy import lazy_names
from osmanthus.scoring.early_repair import repair_check
from osmanthus.scoring.reference import (
    STATUS_TEXT,
    Explanation,
    PerkDecision,
    RecordLine,
    explain,
    score,
)

if TYPE_CHECKING:
    from osmanthus.scoring.author_tests import (
        Case,
        CaseResult,
        MustNotLoad,
        load_cases,
        run_case,
        run_cases,
    )
    from osmanthus.scoring.distribution import Distribution, distribution

__all__ = [
    "STATUS_TEXT",
    "Case",
    "CaseResult",
    "Distribution",
    "Explanation",
    "MustNotLoad",
    "PerkDecision",
    "RecordLine",
    "distribution",
    "explain",
    "load_cases",
    "repair_check",
    "run_case",
    "run_cases",
    "score",
]

__getattr__, __dir__ = lazy_names(
    __name__,
    globals(),
    {
        **dict.fromkeys(
            ("Case", "CaseResult", "MustNotLoad", "load_cases", "run_case", "run_cases"),
            "osmanthus.scoring.author_tests",
        ),
        **dict.fromkeys(("Distribution", "distribution"), "osmanthus.scoring.distribution"),
    },
)
