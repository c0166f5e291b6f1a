"""Intake: departments' batch files, checked row by row and written all or nothing."""

from osmanthus.intake.outcome import Outcome, load_outcome, recent_outcomes
from osmanthus.intake.readers import (
    COLUMNS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    detect_format,
    open_batch,
    read_batch,
)
from osmanthus.intake.submit import Progress, submit_batch
from osmanthus.intake.validate import Problem, Validated, validate_batch

__all__ = [
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Outcome",
    "Problem",
    "Progress",
    "Validated",
    "detect_format",
    "load_outcome",
    "open_batch",
    "read_batch",
    "recent_outcomes",
    "submit_batch",
    "validate_batch",
]
