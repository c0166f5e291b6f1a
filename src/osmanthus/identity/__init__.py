"""Resident identity: national ID validation and keyed pseudonyms.

One number is checked and hashed with the standard library; the column-wise forms (numpy,
DuckDB) load on first use.
"""

from typing import TYPE_CHECKING

from osmanthus.identity.national_id import (
    CHECK_CHARACTERS,
    WEIGHTS,
    check_character,
    mask,
    validate,
)
from osmanthus.identity.pseudonym import pseudonym, pseudonyms
from osmanthus.lazy import lazy_names

if TYPE_CHECKING:
    from osmanthus.identity.columns import pseudonym_column, validate_many

__all__ = [
    "CHECK_CHARACTERS",
    "WEIGHTS",
    "check_character",
    "mask",
    "pseudonym",
    "pseudonym_column",
    "pseudonyms",
    "validate",
    "validate_many",
]

__getattr__, __dir__ = lazy_names(
    __name__,
    globals(),
    {
        "pseudonym_column": "osmanthus.identity.columns",
        "validate_many": "osmanthus.identity.columns",
    },
)
