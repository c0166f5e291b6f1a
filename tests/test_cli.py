"""The command line, through its runner, on real database files."""

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factories import POLICY_DIR, TEST_KEY
from osmanthus.cli import app

runner = CliRunner()
DEMO_SIZE = int(os.environ.get("OSMANTHUS_TEST_CITY_SIZE", "30000"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OSMANTHUS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OSMANTHUS_POLICY_DIR", str(POLICY_DIR))
    monkeypatch.delenv("OSMANTHUS_DATABASE_URL", raising=False)
    monkeypatch.delenv("OSMANTHUS_DEMO_MODE", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def demo_city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One demo city for the module (built by the real `osmanthus demo`)."""
    home = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OSMANTHUS_DATA_DIR", str(home / "var"))
        mp.setenv("OSMANTHUS_POLICY_DIR", str(POLICY_DIR))
        mp.delenv("OSMANTHUS_DATABASE_URL", raising=False)
        result = runner.invoke(app, ["demo", "--residents", str(DEMO_SIZE), "--no-serve"])
    assert result.exit_code == 0, result.output
    return home, result.output


def run_demo(home: Path, *args: str) -> str:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OSMANTHUS_DATA_DIR", str(home / "var"))
        mp.setenv("OSMANTHUS_POLICY_DIR", str(POLICY_DIR))
        mp.delenv("OSMANTHUS_DATABASE_URL", raising=False)
        result = runner.invoke(app, ["--demo", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_prints_a_distribution_within_ten_percent_of_the_calibration(
    demo_city: tuple[Path, str],
) -> None:
    _, output = demo_city
    assert f"({DEMO_SIZE:,} residents)" in output
    for band in ("above", "at", "below"):
        match = re.search(rf"│ {band} 100\s+│\s+([\d,]+) │\s+([\d.]+)% │\s+([\d.]+)% │", output)
        assert match, f"no row for {band} in:\n{output}"
        share, target = float(match.group(2)), float(match.group(3))
        assert abs(share - target) <= 0.1 * target, (band, share, target)


def test_explain_of_a_resident_above_100_adds_up(demo_city: tuple[Path, str]) -> None:
    home, output = demo_city
    numbers = re.findall(r"explain (\w{18})\s+# above 100", output)
    assert numbers
    for number in numbers:
        text = run_demo(home, "explain", number)
        score = int(re.search(r"→ score (\d+)", text).group(1))  # type: ignore[union-attr]
        counted = [int(v) for v in re.findall(r"points [+-]\d+, counted ([+-]\d+):", text)]
        assert score > 100
        assert sum(counted) == score - 100, text
        assert "[1] " in text and "(in force " in text  # the legal basis travels along
        assert run_demo(home, "score", number).strip() == str(score)


def test_explain_as_json_gives_each_record_for_a_script(demo_city: tuple[Path, str]) -> None:
    home, output = demo_city
    for number in re.findall(r"explain (\w{18})\s+# (?:above|below) 100", output):
        found = json.loads(run_demo(home, "explain", number, "--json"))
        assert found["score"] == int(run_demo(home, "score", number))
        assert found["records"] and all(isinstance(r["record_id"], int) for r in found["records"])
        counted = sum(r["counted"] for r in found["records"])
        adjusted = sum(a["delta"] for a in found["adjustments"])
        assert 100 + counted + adjusted == found["raw"]
        assert number not in json.dumps(found)  # the ID number never leaves


def test_stats_and_audit_on_the_demo_city(demo_city: tuple[Path, str]) -> None:
    home, _ = demo_city
    assert f"({DEMO_SIZE:,} residents)" in run_demo(home, "stats")
    assert "audit chain verified" in run_demo(home, "audit", "verify")


def test_erasure_on_demand_counts_first_and_refuses_a_vague_ground(
    demo_city: tuple[Path, str],
) -> None:
    home, output = demo_city
    number = re.findall(r"explain (\w{18})", output)[0]
    ground = "PIPL Art. 47, request of 2026-12-01 granted"
    text = run_demo(home, "retention", "erase", number, "--ground", ground, "--dry-run")
    assert text.startswith("would erase: rows changed") and "records" in text
    assert run_demo(home, "score", number).strip().isdigit()  # nothing was erased
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OSMANTHUS_DATA_DIR", str(home / "var"))
        mp.setenv("OSMANTHUS_POLICY_DIR", str(POLICY_DIR))
        mp.delenv("OSMANTHUS_DATABASE_URL", raising=False)
        result = runner.invoke(app, ["--demo", "retention", "erase", number, "--ground", "asked"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ground: name the legal ground")


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("32050819870315001", "expected 18 characters, found 17"),
        ("320508198703150010", "check digit is 0, expected"),
        ("320508198702300011", "birth date (characters 7 to 14) is not a real date"),
    ],
)
def test_bad_id_gives_one_line_error(
    env: Path, number: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.setenv("OSMANTHUS_DEMO_MODE", "true")  # init approves the demo policy
    assert runner.invoke(app, ["init"]).exit_code == 0
    result = runner.invoke(app, ["score", number])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: national ID") and message in lines[0]


def test_commands_refuse_an_uninitialised_ledger(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 1
    assert "run 'osmanthus init'" in result.output


def test_demo_key_is_refused_outside_demo_mode(env: Path) -> None:
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 1
    assert "'pseudonym_key' is required outside demo mode" in result.output


def test_init_twice_is_harmless(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    first = runner.invoke(app, ["init"])
    second = runner.invoke(app, ["init"])
    assert first.exit_code == second.exit_code == 0
    assert "no approved policy yet: propose one" in first.output
    assert first.output.replace("\n", "") == second.output.replace("\n", "")
    assert (env / "var" / "osmanthus.db").exists()


def test_demo_init_puts_the_policy_through_two_approvers_once(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSMANTHUS_DEMO_MODE", "true")
    first = runner.invoke(app, ["init"])
    second = runner.invoke(app, ["init"])
    assert first.exit_code == second.exit_code == 0, first.output
    for result in (first, second):
        assert "policy suzhou-example in force: proposal 1" in result.output
        assert "approved by policy-approver:Legal office (demo) (key 2) and" in result.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "nonsense://nowhere",
            "error: settings: 'database_url' backend 'nonsense' is not supported",
        ),
        ("mysql://db/x", "error: settings: 'database_url' backend 'mysql' is not supported"),
        ("::::", "error: settings: 'database_url' is not a usable SQLAlchemy URL"),
        ("sqlite://", "error: settings: 'database_url' names an SQLite database in memory"),
        ("sqlite:///:memory:", "error: settings: 'database_url' names an SQLite database in"),
    ],
)
def test_bad_database_url_is_a_one_line_error(
    env: Path, monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.setenv("OSMANTHUS_DATABASE_URL", url)
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 1
    assert result.output.strip().startswith(message)
    assert len(result.output.strip().splitlines()) == 1


def test_demo_refuses_a_configured_database(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = env / "real.db"
    target.write_bytes(b"precious")
    monkeypatch.setenv("OSMANTHUS_DATABASE_URL", f"sqlite:///{target}")
    result = runner.invoke(app, ["demo", "--residents", "10", "--no-serve"])
    assert result.exit_code == 1
    assert "never touches a configured one" in result.output
    assert target.read_bytes() == b"precious"


def test_default_policy_is_found_from_any_directory(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OSMANTHUS_POLICY_DIR")
    monkeypatch.setenv("OSMANTHUS_DEMO_MODE", "true")
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert "policy suzhou-example in force" in result.output


def test_reading_a_missing_ledger_creates_no_file(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 1
    assert not (env / "var" / "osmanthus.db").exists()


def test_explain_does_not_send_a_department_s_control_characters_to_the_terminal() -> None:
    """Found in review: a reference uploaded with an escape sequence reached the
    operator's terminal as is once explain printed plain text."""
    from osmanthus.cli.scoring import _shown

    assert _shown("TP-1\x1b[2J\x07中文") == "TP-1\\u001b[2J\\u0007中文"
