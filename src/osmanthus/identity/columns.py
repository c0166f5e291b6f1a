"""Column-wise identity: a whole column of national ID numbers validated at once (numpy,
no Python loop per row) and its pseudonyms computed by DuckDB.

Kept apart from :mod:`osmanthus.identity.national_id` and
:mod:`osmanthus.identity.pseudonym`, which check and hash one number with the standard
library only, so that a look-up of one resident loads neither numpy nor DuckDB.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from osmanthus.errors import NationalIdError
from osmanthus.identity.national_id import (
    CHECK_CHARACTERS,
    EARLIEST_BIRTH_YEAR,
    ID_LENGTH,
    WEIGHTS,
    mask,
    why_invalid,
)

__all__ = ["invalid_rows", "pseudonym_column", "valid_codes", "validate_many"]

_BLOCK = 64  # SHA-256 block size: HMAC pads the key to it


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
        problem = why_invalid(str(arr[row]), today or dt.date.today()) or "invalid"
        raise NationalIdError(f"row {row}: national ID {mask(str(arr[row]))}: {problem}")
    return arr


def invalid_rows(arr: npt.NDArray[np.str_], *, today: dt.date) -> npt.NDArray[np.intp]:
    """Indices of the numbers in ``arr`` that fail any rule, computed column-wise."""
    n = arr.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.intp)
    lengths = np.char.str_len(arr)
    fixed = arr.astype(f"<U{ID_LENGTH}")
    codes = fixed.view(np.uint32).reshape(n, ID_LENGTH).astype(np.int32)
    return np.flatnonzero(~valid_codes(codes, lengths == ID_LENGTH, today=today))


def valid_codes(
    codes: npt.NDArray[np.int32], sized: npt.NDArray[np.bool_], *, today: dt.date
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

    remainder = (body * np.array(WEIGHTS, dtype=np.int32)).sum(axis=1) % 11
    expected = np.frombuffer(CHECK_CHARACTERS.encode(), dtype=np.uint8).astype(np.int32)
    check_ok = expected[remainder] == last
    valid: npt.NDArray[np.bool_] = ok & date_ok & check_ok
    return valid


def pseudonym_column(key: bytes, national_ids: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """Pseudonyms of a column of numbers, computed by DuckDB (vectorised C++); a value
    that is not ASCII (refused by the ID check) is hashed as its UTF-8 bytes, never an
    error.

    The same HMAC-SHA-256 as :func:`pseudonym`, written out (RFC 2104):
    ``H((K ^ opad) || H((K ^ ipad) || m))`` with the key padded to the block size.
    """
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in padded)
    outer = bytes(b ^ 0x5C for b in padded)
    numbers = pa.table({"n": national_ids})
    with duckdb.connect() as con:
        con.register("numbers", numbers)
        result = con.sql(
            "SELECT sha256(?::BLOB || unhex(sha256(?::BLOB || encode(n)))) AS p FROM numbers",
            params=[outer, inner],
        ).to_arrow_table()
    return result.column("p")
