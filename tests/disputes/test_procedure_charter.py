"""A hostile policy author cannot slow due process below the city's charter: a longer
answer deadline, longer or more extensions, working days that stretch the same number,
a shorter appeal window or a slower reviewer each make the version refuse to load, with
the file, the line and the charter's rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.factories import POLICY_DIR

from osmanthus.errors import PolicyError
from osmanthus.policy import load_policy

ORIGINAL = 'extension = { max_days = 10, times = 1, when = "new_information" }'


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("answer_within = 20", "answer_within = 60", "take 70 days to answer"),
        (ORIGINAL, 'extension = { max_days = 10, times = 3, when = "any" }', "take 50 days"),
        ('days = "calendar"', 'days = "working"', "take 42 days to answer"),
        ("appeal_within = 15", "appeal_within = 5", "5 days to appeal"),
        ("review_within = 30", "review_within = 90", "90 days to review"),
    ],
)
def test_a_slower_procedure_is_refused(tmp_path: Path, old: str, new: str, message: str) -> None:
    folder = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, folder)
    path = folder / "2020-01-01.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(PolicyError, match=message) as refused:
        load_policy(folder)
    assert "2020-01-01.toml" in str(refused.value) and "limits." in str(refused.value)


def test_the_city_example_is_within_its_charter() -> None:
    procedure = load_policy(POLICY_DIR).latest.dispute_procedure
    assert (procedure.answer_within, procedure.extension and procedure.extension.max_days) == (
        20,
        10,
    )
