"""The approval path through the command line, on a real ledger file: keys, propose,
approve, reject, history and show; the policy folder's files change nothing until a
proposal is approved."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factories import POLICY_DIR, TEST_KEY, make_id
from osmanthus.cli import app
from osmanthus.policy import load_policy
from osmanthus.scoring import run_cases

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OSMANTHUS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OSMANTHUS_POLICY_DIR", str(POLICY_DIR))
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.delenv("OSMANTHUS_DATABASE_URL", raising=False)
    monkeypatch.delenv("OSMANTHUS_DEMO_MODE", raising=False)
    monkeypatch.delenv("OSMANTHUS_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str, code: int = 0, key: str | None = None) -> str:
    env = {"OSMANTHUS_KEY": key} if key else None
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def key(role: str, name: str) -> str:
    bound = ["--perk", "civilization_loan"] if role == "provider" else []
    return run("keys", "create", "--role", role, "--name", name, *bound).strip()


def test_propose_and_approve_from_the_command_line(home: Path) -> None:
    assert "no approved policy yet" in run("init")
    refused = run("score", make_id(), code=1)
    assert "the ledger has no approved policy yet" in refused
    author = key("policy-approver", "Policy author")  # may approve, not its own
    legal = key("policy-approver", "Legal office")
    credit = key("policy-approver", "Credit office")
    proposed = run("policy", "propose", str(POLICY_DIR), key=author)
    number = re.search(r"proposal (\d+) of suzhou-example: open \(0 of 2", proposed)
    assert number, proposed
    cases = len(run_cases(POLICY_DIR, load_policy(POLICY_DIR)))
    assert f"validation passed: charter, guardrails and {cases} authors' test(s)" in proposed
    assert "impact on" in proposed
    ident = number.group(1)
    assert "its proposer may not" in run("policy", "approve", ident, key=author, code=1)
    assert "1 of 2" in run("policy", "approve", ident, key=legal)
    assert "approved (2 of 2" in run("policy", "approve", ident, "--key", credit)
    history = run("policy", "history")
    assert f"{ident}  approved (in force)  suzhou-example" in history
    assert "approved by policy-approver:Legal office (key 2)" in history
    shown = run("policy", "show", ident, "--json")
    assert '"status": "approved"' in shown and '"impact"' in shown


def test_the_folder_changes_nothing_until_approved(home: Path) -> None:
    folder = home / "policy"
    shutil.copytree(POLICY_DIR, folder)
    run("init")
    author = key("operator", "author")
    first, second = key("policy-approver", "one"), key("policy-approver", "two")
    run("policy", "propose", str(folder), key=author)
    run("policy", "approve", "1", key=first)
    run("policy", "approve", "1", key=second)
    number = make_id()
    from osmanthus.governance import approved_policy
    from osmanthus.ledger import Actor, Ledger, NewRecord, connect

    engine = connect(f"sqlite:///{home / 'var' / 'osmanthus.db'}")
    policy = approved_policy(engine)
    assert policy is not None
    ledger = Ledger(engine, policy, TEST_KEY)
    department = Actor("department", "traffic-police")
    ledger.register_resident(number, "gusu", actor=department)
    day = ledger.today() - dt.timedelta(days=10)
    ledger.append_record(
        NewRecord(
            national_id=number,
            department="traffic-police",
            metric="failure_to_yield",
            act_date=day,
            decision_date=day,
            source_ref="R-1",
            value=1.0,
        ),
        actor=department,
    )
    engine.dispose()
    assert run("score", number).strip() == "97"
    # a hostile operator edits the folder in place: the ledger's rules still decide
    text = (folder / "2020-01-01.toml").read_text(encoding="utf-8")
    start = text.index("[metrics.failure_to_yield]")
    (folder / "2020-01-01.toml").write_text(
        text[:start] + text[start:].replace("points = -3", "points = -60", 1)
    )
    assert run("score", number).strip() == "97"
    with_folder = runner.invoke(app, ["score", number], env={"OSMANTHUS_POLICY_DIR": str(folder)})
    assert with_folder.output.strip() == "97"
    # proposing the edit is refused: it rewrites a version in force
    refused = run("policy", "propose", str(folder), key=author, code=1)
    assert "no backdating" in refused


def test_a_key_without_the_role_or_without_a_key(home: Path) -> None:
    run("init")
    provider = key("provider", "A bank")
    assert "role 'provider' may not do this" in run(
        "policy", "propose", str(POLICY_DIR), key=provider, code=1
    )
    missing = runner.invoke(app, ["policy", "propose", str(POLICY_DIR)])
    assert missing.exit_code == 2 and "--key" in missing.output
    assert "the API key is not valid" in run("policy", "approve", "1", key="osm_not-a-key", code=1)
