"""Validation of the 18-character resident identity number (GB 11643-1999).

Layout: 6-digit administrative area code, 8-digit birth date (YYYYMMDD), 3-digit
sequence, and a check character computed with ISO 7064 MOD 11-2 (``0``-``9`` or ``X``).
The number is validated on the way in and never stored; only its pseudonym is.

:func:`validate` checks one number; :func:`osmanthus.identity.columns.validate_many` checks
a whole column at once (numpy, no Python loop per row) and names the first bad row.
"""

from __future__ import annotations

import datetime as dt

from osmanthus.errors import NationalIdError

__all__ = [
    "CHECK_CHARACTERS",
    "ID_LENGTH",
    "WEIGHTS",
    "check_character",
    "mask",
    "validate",
    "why_invalid",
]

ID_LENGTH = 18
#: ISO 7064 MOD 11-2 weights: 2**(17 - i) mod 11 for the 17 leading digits.
WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
#: Check character for each remainder of the weighted sum modulo 11.
CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH_YEAR = 1900


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def mask(number: str) -> str:
    """A form of the number safe to print in messages: area code and last four only."""
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def validate(number: str, *, today: dt.date | None = None) -> str:
    """Return the normalised number (upper-case ``X``) or raise :class:`NationalIdError`.

    The message says which rule failed: length, characters, birth date or check digit.
    """
    problem = why_invalid(number.strip(), today or dt.date.today())
    if problem:
        raise NationalIdError(f"national ID {mask(number.strip())}: {problem}")
    return number.strip().upper()


def why_invalid(number: str, today: dt.date) -> str | None:
    if len(number) != ID_LENGTH:
        return f"expected {ID_LENGTH} characters, found {len(number)}"
    body, check = number[:17], number[17].upper()
    if not (body.isascii() and body.isdigit()) or check not in "0123456789X":
        return "expected 17 digits followed by a digit or X, found other characters"
    try:
        born = dt.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        return "birth date (characters 7 to 14) is not a real date"
    if born.year < EARLIEST_BIRTH_YEAR or born > today:
        return "birth date is impossible (before 1900 or in the future)"
    expected = check_character(body)
    if check != expected:
        return f"check digit is {check}, expected {expected}"
    return None
