"""A minimal policy text for tests that each add or change one rule."""

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


def write_policy(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    """Write ``text`` as a policy file in ``tmp_path`` and return the file's path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def policy_from(tmp_path: Path, text: str) -> PolicySet:
    """Load ``text`` as a one-version policy."""
    return load_policy(write_policy(tmp_path, text))
