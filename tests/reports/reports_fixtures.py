"""Constants and helpers of the signed-document tests (fixtures are in conftest.py)."""

from __future__ import annotations

from factories import make_id

ALICE = make_id(sequence=1)  # no records: at the baseline, eligible for the loan
BOB = make_id(sequence=2)  # drunk driving: below 100, eligible for nothing
CAROL = make_id(area=320506, born="19920704", sequence=7)  # a commendation: 110
