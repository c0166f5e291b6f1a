"""Intake: departments' batch files, read and checked before anything reaches the ledger."""

from osmanthus.intake.readers import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, detect_format, read_batch
from osmanthus.intake.validate import Problem, Validated, validate_batch

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Problem",
    "Validated",
    "detect_format",
    "read_batch",
    "validate_batch",
]
