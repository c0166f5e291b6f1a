"""Every shipped policy loads and passes its authors' tests (`osmanthus policy test`)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from factories import ROOT, example_policy
from osmanthus.cli import app
from osmanthus.policy import load_policy
from osmanthus.scoring import run_cases

POLICIES = sorted(p for p in (ROOT / "policies").iterdir() if p.is_dir())


@pytest.mark.parametrize("directory", POLICIES, ids=[p.name for p in POLICIES])
def test_policy_passes_its_authors_tests(directory: Path) -> None:
    results = run_cases(directory, load_policy(directory))
    assert len(results) >= 5, "every example policy ships its test cases"
    failures = [
        f"{r.case.source} {r.case.name}: {'; '.join(r.problems)}" for r in results if not r.passed
    ]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("directory", POLICIES, ids=[p.name for p in POLICIES])
def test_policy_check_prints_every_rule_with_its_citation(directory: Path) -> None:
    result = CliRunner().invoke(app, ["policy", "check", str(directory)])
    assert result.exit_code == 0, result.output
    version = load_policy(directory).latest
    for code, metric in version.metrics.items():
        assert f"metric {code} " in result.output
        if metric.legal_basis:
            assert metric.legal_basis.cite() in result.output
    assert "version(s) valid" in result.output


def test_policy_test_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    folder = example_policy(tmp_path)
    (folder / "tests" / "wrong.toml").write_text(
        '[[case]]\nname = "wrong on purpose"\non = 2026-11-01\n'
        'records = [{ metric = "failure_to_yield", act = 2026-06-01 }]\n'
        "expect = { score = 100 }\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["policy", "test", str(folder)])
    assert result.exit_code == 1
    assert "FAIL wrong.toml#0 wrong on purpose" in result.output
    assert "score: expected 100, got 97" in result.output
    assert "0 passed, 1 failed" in result.output


def test_policy_test_names_the_record_and_what_differed(tmp_path: Path) -> None:
    folder = example_policy(tmp_path)
    (folder / "tests" / "wrong.toml").write_text(
        '[[case]]\nname = "repaired, but the author expects it counting"\non = 2026-11-05\n'
        'records = [{ metric = "failure_to_yield", act = 2026-06-01, repaired = 2026-11-04, '
        'expect = { status = "counted" } }]\n'
        "expect = { score = 100 }\n\n"
        '[[must_not_load]]\nname = "a deduction within the limit"\n'
        'patch = { metrics.failure_to_yield.points = -5 }\nerror = "above the per-record limit"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["policy", "test", str(folder)])
    assert result.exit_code == 1
    assert (
        "FAIL wrong.toml#0 repaired, but the author expects it counting\n"
        "     records.0 failure_to_yield: status: expected 'counted', got 'repaired' "
        "(repaired early: no longer counts)\n"
    ) in result.output
    assert (
        "FAIL wrong.toml#must_not_load.0 a deduction within the limit\n"
        "     error: expected a refusal containing 'above the per-record limit', but the "
        "changed 2020-01-01.toml loaded\n"
    ) in result.output
    assert "0 passed, 2 failed" in result.output


def test_policy_test_stops_at_a_bad_test_file_with_one_line(tmp_path: Path) -> None:
    folder = example_policy(tmp_path, "china-12-point-example")
    (folder / "tests" / "bad.toml").write_text(
        '[[case]]\nname = "a date the policy does not hold"\non = 2023-05-01\n'
        "profile = { licence_issued = 2020-11-04, resident_since = 2001-01-01 }\n"
        "expect = { score = 0 }\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["policy", "test", str(folder)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: bad.toml: case 0: profile.resident_since: the policy declares no profile "
        "attribute 'resident_since' (declared: licence_issued)"
    )
