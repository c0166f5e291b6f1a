"""``osmanthus intake``, ``osmanthus intake report`` and ``osmanthus coverage`` through the
CLI runner, on a real SQLite ledger."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factories import OPERATOR, POLICY_DIR, TEST_KEY, approve_policy, make_id
from osmanthus.cli import app
from osmanthus.ledger import Ledger
from osmanthus.policy import load_policy
from osmanthus.settings import get_settings

runner = CliRunner()
HEADER = "national_id,metric,act_date,decision_date,source_ref,value\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OSMANTHUS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OSMANTHUS_POLICY_DIR", str(POLICY_DIR))
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.delenv("OSMANTHUS_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init"]).exit_code == 0
    settings = get_settings()
    ledger = Ledger.from_settings(settings, load_policy(settings.policy_dir))
    approve_policy(ledger, population_dir=tmp_path / "pop")
    for sequence in (1, 2):
        ledger.register_resident(make_id(sequence=sequence), "gusu", actor=OPERATOR)
    ledger.engine.dispose()
    return tmp_path


def batch(home: Path, *rows: str) -> Path:
    path = home / "batch.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def line(sequence: int, ref: str, value: str = "1") -> str:
    return f"{make_id(sequence=sequence)},failure_to_yield,2026-06-01,2026-06-03,{ref},{value}"


def test_intake_commits_and_reports(home: Path) -> None:
    path = batch(home, line(1, "TP-1"), line(2, "TP-2"))
    result = runner.invoke(
        app, ["intake", str(path), "--department", "traffic-police", "--batch-id", "B1"]
    )
    assert result.exit_code == 0, result.output
    assert "batch B1 from traffic-police: committed; 2 rows, 2 accepted" in result.output
    again = runner.invoke(
        app, ["intake", str(path), "--department", "traffic-police", "--batch-id", "B1"]
    )
    assert "already submitted: this is its first outcome" in again.output
    report = runner.invoke(app, ["intake", "report", "B1", "--json"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["accepted"] == 2


def test_a_refused_batch_exits_1_and_writes_a_formula_safe_csv_report(home: Path) -> None:
    path = batch(home, line(1, "TP-1"), line(2, "=HYPERLINK(1)", value="-2"))
    result = runner.invoke(
        app,
        [
            "intake",
            str(path),
            "--department",
            "traffic-police",
            "--batch-id",
            "B2",
            "--report",
            "report.csv",
        ],
    )
    assert result.exit_code == 1
    assert "refused" in result.output and "row 2: value: outside the range" in result.output
    rows = list(csv.DictReader(io.StringIO((home / "report.csv").read_text())))
    assert [(r["row"], r["field"], r["value"]) for r in rows] == [("2", "value", "'-2")]
    shown = runner.invoke(app, ["intake", "report", "B2"])
    assert "row 2: value: outside the range of failure_to_yield" in shown.output


def test_a_missing_batch_and_a_bad_file_are_one_line_errors(home: Path) -> None:
    result = runner.invoke(app, ["intake", "report", "NOPE"])
    assert result.exit_code == 1 and result.output.strip() == "error: no batch 'NOPE'"
    (home / "empty.csv").write_bytes(b"")
    result = runner.invoke(app, ["intake", "empty.csv", "--department", "traffic-police"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: empty.csv: the file is empty (expected a header row)"
    ]


def test_coverage_names_who_sent_what_and_who_never_sent(home: Path) -> None:
    path = batch(home, line(1, "TP-1"))
    runner.invoke(app, ["intake", str(path), "--department", "traffic-police", "--batch-id", "C1"])
    result = runner.invoke(app, ["coverage"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "1 of 21 departments have sent data" in result.output
    traffic = next(row for row in result.output.splitlines() if "traffic-police" in row)
    assert "C1" in traffic and "running_red_light" in traffic and "failure_to_yield" not in traffic
    assert "never sent anything: charity-federation" in result.output


def test_coverage_by_month(home: Path) -> None:
    runner.invoke(
        app, ["intake", str(batch(home, line(1, "TP-1"))), "--department", "traffic-police"]
    )
    result = runner.invoke(app, ["coverage", "--by-month"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    traffic = next(row for row in result.output.splitlines() if "traffic-police" in row)
    assert "1 / 0" in traffic
