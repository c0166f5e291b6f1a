"""Scoring: one resident's score with its full explanation, and the population distribution.

Scoring stands on the pure core (:mod:`osmanthus.core`, :mod:`osmanthus.policy`): importing
it loads no database or dataframe library. ``Distribution`` and ``distribution`` read the
ledger and are imported when first used.
"""

import importlib
from typing import Any

from osmanthus.scoring.author_tests import Case, CaseResult, load_cases, run_case, run_cases
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


def __getattr__(name: str) -> Any:
    if name in ("Distribution", "distribution"):
        module = importlib.import_module("osmanthus.scoring.distribution")
        # importing the submodule set the package's ``distribution`` to it: the function
        globals().update(Distribution=module.Distribution, distribution=module.distribution)
        return globals()[name]
    raise AttributeError(f"module 'osmanthus.scoring' has no attribute {name!r}")
