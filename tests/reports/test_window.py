"""Validity windows checked offline without knowing the issuing city's time zone."""

from __future__ import annotations

import datetime as dt

import pytest

from osmanthus.errors import SignatureInvalid
from osmanthus.reports.signing import check_window


def test_a_document_dated_in_a_city_ahead_of_utc_is_already_valid() -> None:
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=14)).date()  # Kiribati's today
    check_window(ahead, ahead + dt.timedelta(days=30), None)  # no error
    with pytest.raises(SignatureInvalid, match="not yet valid"):
        check_window(ahead + dt.timedelta(days=1), ahead + dt.timedelta(days=30), None)


def test_a_document_is_expired_once_its_last_day_ended_everywhere() -> None:
    behind = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=12)).date()  # Baker Island's today
    check_window(behind - dt.timedelta(days=30), behind, None)  # still its last day there
    with pytest.raises(SignatureInvalid, match="expired"):
        check_window(behind - dt.timedelta(days=30), behind - dt.timedelta(days=1), None)


def test_a_given_date_is_used_exactly() -> None:
    day = dt.date(2026, 11, 28)
    with pytest.raises(SignatureInvalid, match="not yet valid"):
        check_window(day + dt.timedelta(days=1), day + dt.timedelta(days=2), day)
