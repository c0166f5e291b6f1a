"""Validation of the 18-character resident identity number (GB 11643-1999).

Layout: 6-digit administrative area code, 8-digit birth date (YYYYMMDD), 3-digit
sequence, and a check character computed with ISO 7064 MOD 11-2 (``0``-``9`` or ``X``).
The number is validated on the way in and never stored; only its pseudonym is.

:func:`validate` checks one number; :func:`validate_many` checks a whole column at once
(numpy, no Python loop per row) and names the first bad row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from osmanthus.errors import NationalIdError

__all__ = [
    "CHECK_CHARACTERS",
    "ID_LENGTH",
    "WEIGHTS",
    "check_character",
    "invalid_rows",
    "mask",
    "valid_codes",
    "validate",
    "validate_many",
]

ID_LENGTH = 18
#: ISO 7064 MOD 11-2 weights: 2**(17 - i) mod 11 for the 17 leading digits.
WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
#: Check character for each remainder of the weighted sum modulo 11.
CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH_YEAR = 1900


_WEIGHTS = tuple(int(w) for w in WEIGHTS)  # plain ints for one number at a time


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
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
    problem = _problem(number.strip(), today or dt.date.today())
    if problem:
        raise NationalIdError(f"national ID {mask(number.strip())}: {problem}")
    return number.strip().upper()


def _problem(number: str, today: dt.date) -> str | None:
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


def validate_many(
    numbers: Sequence[str] | npt.NDArray[np.str_], *, today: dt.date | None = None
) -> npt.NDArray[np.str_]:
    """Validate a column of numbers at once; return them normalised (upper-case ``X``).

    Raises :class:`NationalIdError` naming the first bad row (0-based) and the rule.
    """
    arr = np.char.upper(np.char.strip(np.asarray(numbers, dtype=str)))
    bad = invalid_rows(arr, today=today or dt.date.today())
    if bad.size:
        row = int(bad[0])
        problem = _problem(str(arr[row]), today or dt.date.today()) or "invalid"
        raise NationalIdError(f"row {row}: national ID {mask(str(arr[row]))}: {problem}")
    return arr


def invalid_rows(arr: npt.NDArray[np.str_], *, today: dt.date) -> npt.NDArray[np.intp]:
    """Indices of the numbers in ``arr`` that fail any rule, computed column-wise."""
    n = arr.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.intp)
    lengths = np.char.str_len(arr)
    fixed = arr.astype(f"<U{ID_LENGTH}")
    codes = fixed.view(np.uint32).reshape(n, ID_LENGTH).astype(np.int64)
    return np.flatnonzero(~valid_codes(codes, lengths == ID_LENGTH, today=today))


def valid_codes(
    codes: npt.NDArray[np.int64], sized: npt.NDArray[np.bool_], *, today: dt.date
) -> npt.NDArray[np.bool_]:
    """Which rows of an ``(n, 18)`` matrix of character codes are valid numbers.

    ``sized`` marks the rows that had exactly 18 characters to begin with.
    """
    digits = codes - ord("0")
    body_ok = ((digits[:, :17] >= 0) & (digits[:, :17] <= 9)).all(axis=1)
    last = codes[:, 17]
    last_is_digit = (last >= ord("0")) & (last <= ord("9"))
    last_ok = last_is_digit | (last == ord("X"))
    ok = sized & body_ok & last_ok

    body = np.where(ok[:, None], digits[:, :17], 0)
    year = body[:, 6] * 1000 + body[:, 7] * 100 + body[:, 8] * 10 + body[:, 9]
    month = body[:, 10] * 10 + body[:, 11]
    day = body[:, 12] * 10 + body[:, 13]
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    max_day = month_days[np.clip(month, 0, 12)] + ((month == 2) & leap)
    date_ok = (month >= 1) & (month <= 12) & (day >= 1) & (day <= max_day)
    as_int = year * 10000 + month * 100 + day
    today_int = today.year * 10000 + today.month * 100 + today.day
    date_ok &= (year >= EARLIEST_BIRTH_YEAR) & (as_int <= today_int)

    remainder = (body * WEIGHTS).sum(axis=1) % 11
    expected = np.frombuffer(CHECK_CHARACTERS.encode(), dtype=np.uint8).astype(np.int64)
    check_ok = expected[remainder] == last
    valid: npt.NDArray[np.bool_] = ok & date_ok & check_ok
    return valid
