"""A minimal policy text for tests that each add or change one rule, and the test charter
written beside it (every policy loads against a charter)."""

from __future__ import annotations

from pathlib import Path

from osmanthus.policy import PolicySet, load_policy

BASIS = 'legal_basis = { instrument = "Test Measures", article = "Art. 1", effective = 2020-01-01 }'

MINIMAL = f"""
[policy]
name = "test"
version = "1"
title = "Test policy"
effective = 2020-01-01

[scale]
baseline = 100
floor = 0
ceiling = 200

[limits]
max_penalty_per_record = 50
max_penalty_per_year = 500

[departments]
dept = {{ name = "Test department" }}

[metrics.good]
title = "Good conduct"
category = "conduct_test"
reported_by = ["dept"]
points = 5
expiry = "1y"
{BASIS}

[metrics.bad]
title = "Bad conduct"
category = "conduct_test"
reported_by = ["dept"]
points = -10
expiry = "1y"
{BASIS}
"""


#: The test charter: the categories and instruments the tests' policies use, and limits
#: wide enough for them; the lexicons are the real ones.
TEST_CHARTER = """
[charter]
name = "test-charter"
title = "Test charter"
notice_days = 30
legal_basis = { instrument = "Test Measures", article = "Art. 1", effective = 2020-01-01 }

[categories]
conduct_test = "Conduct, for tests"
traffic = "Road traffic offences"
driving_licence = "Driving licence facts"
credit = "Loans in default"
charity = "Donations"
education_course = "Courses completed"
residence = "Residence facts a rule needs"

[limits]
max_penalty_per_record = 1000
max_penalty_per_year = 10000
max_negative_life = "10y"
worst_standing = -10000
"""

TEST_INSTRUMENTS = """
[[instrument]]
name = "Test Measures"
issuer = "Test issuer"
in_force = 2000-01-01
articles = ["Art. 1", "Art. 2", "Art. 3"]

[[instrument]]
name = "Charity Law"
issuer = "National People's Congress"
in_force = 2016-09-01
articles = ["Art. 91"]
"""


def write_charter(folder: Path, charter: str = TEST_CHARTER) -> None:
    """Write the test charter and its registry into ``folder`` unless one is there."""
    if not (folder / "charter.toml").exists():
        (folder / "charter.toml").write_text(charter, encoding="utf-8")
    if not (folder / "instruments.toml").exists():
        (folder / "instruments.toml").write_text(TEST_INSTRUMENTS, encoding="utf-8")


def write_policy(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    """Write ``text`` as a policy file in ``tmp_path`` (with the test charter beside it)
    and return the file's path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    write_charter(tmp_path)
    return path


def policy_from(tmp_path: Path, text: str) -> PolicySet:
    """Load ``text`` as a one-version policy."""
    return load_policy(write_policy(tmp_path, text))
