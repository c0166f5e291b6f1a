"""Resident identity: national ID validation and keyed pseudonyms."""

from osmanthus.identity.national_id import (
    CHECK_CHARACTERS,
    WEIGHTS,
    check_character,
    mask,
    validate,
    validate_many,
)
from osmanthus.identity.pseudonym import pseudonym, pseudonym_column, pseudonyms

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
