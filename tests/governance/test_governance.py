"""Proposals and approval (SQLite and PostgreSQL), attacked as a hostile author or
approver would: self-approval, approval by a key without the role, a second approval by
the same person, a failed or stale validation, a missing impact report, a backdated or
removed version, a forged decision row; and the rules in force come from the ledger,
not from the files in the policy folder."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from factories import OPERATOR, POLICY_DIR, approve_policy, make_id, tamper
from osmanthus.errors import AccessDenied, AuditChainBroken, NotFound, ValidationError
from osmanthus.governance import approve, approved, approved_policy, history, propose, reject
from osmanthus.ledger import Ledger, NewRecord, verify_ledger
from osmanthus.web.access import Caller, authenticate, create_key


def staff(ledger: Ledger, role: str, name: str) -> Caller:
    perks = ["civilization_loan"] if role == "provider" else []
    return authenticate(ledger.engine, create_key(ledger.engine, role=role, name=name, perks=perks))


def copy_policy(tmp_path: Path, name: str = "policy") -> Path:
    folder = tmp_path / name
    shutil.copytree(POLICY_DIR, folder)
    return folder


def harsher(folder: Path, effective: dt.date, points: int = -30) -> Path:
    """Add a version effective on ``effective`` in which failing to yield costs more."""
    text = (folder / "2020-01-01.toml").read_text(encoding="utf-8")
    text = text.replace("effective = 2020-01-01\n", f"effective = {effective}\n", 1)
    text = text.replace('version = "2026.1"', 'version = "2027.1"')
    start = text.index("[metrics.failure_to_yield]")
    text = text[:start] + text[start:].replace("points = -3", f"points = {points}", 1)
    (folder / f"{effective}.toml").write_text(text, encoding="utf-8")
    return folder


def test_the_first_policy_needs_two_approvers_neither_of_them_its_proposer(
    ledger: Ledger, tmp_path: Path
) -> None:
    author = staff(ledger, "policy-approver", "author who can also approve")
    first = staff(ledger, "policy-approver", "first")
    second = staff(ledger, "policy-approver", "second")
    operator = staff(ledger, "operator", "an operator")
    provider = staff(ledger, "provider", "a bank")
    found = propose(ledger, POLICY_DIR, actor=author.identity, population_dir=tmp_path)
    assert found.validation["ok"] and found.impact is not None and found.required == 2
    with pytest.raises(AccessDenied, match="its proposer may not approve it"):
        approve(ledger, found.id, actor=author.identity, role=author.role)
    for caller in (operator, provider):
        with pytest.raises(AccessDenied, match="may not decide on a policy"):
            approve(ledger, found.id, actor=caller.identity, role=caller.role)
    halfway = approve(ledger, found.id, actor=first.identity, role=first.role)
    assert halfway.status == "open" and halfway.approvals == (str(first.identity),)
    with pytest.raises(AccessDenied, match=r"already approved by .*a second approver is needed"):
        approve(ledger, found.id, actor=first.identity, role=first.role)
    assert approved_policy(ledger.engine) is None
    done = approve(ledger, found.id, actor=second.identity, role=second.role)
    assert done.status == "approved"
    policy = approved_policy(ledger.engine)
    assert policy is not None and policy.latest.name == "suzhou-example"
    with pytest.raises(ValidationError, match="was already approved"):
        approve(ledger, found.id, actor=operator.identity, role="policy-approver")


def test_every_step_is_audited_with_the_content_hash(ledger: Ledger, tmp_path: Path) -> None:
    number = approve_policy(ledger, population_dir=tmp_path)
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT action, detail FROM audit_log WHERE action LIKE 'policy.%' ORDER BY seq"
            )
        ).all()
    assert [row.action for row in rows] == ["policy.propose", "policy.approve", "policy.approve"]
    current = approved(ledger.engine)
    assert current is not None and current.id == number
    assert all(current.content_hash in row.detail for row in rows)
    verify_ledger(ledger.engine)  # the proposal and decisions are sealed rows


@pytest.fixture
def governed(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> tuple[Ledger, Caller, Caller, Caller]:
    """A ledger whose first policy is approved and that holds a record; an author and
    two approvers."""
    approve_policy(ledger, population_dir=tmp_path / "first")
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    ledger.append_record(make_record(), actor=OPERATOR)
    return (
        ledger,
        staff(ledger, "operator", "policy author"),
        staff(ledger, "policy-approver", "legal office"),
        staff(ledger, "policy-approver", "credit office"),
    )


@pytest.mark.parametrize("days", [0, 29, -400])
def test_no_backdating(
    governed: tuple[Ledger, Caller, Caller, Caller], tmp_path: Path, days: int
) -> None:
    ledger, author, approver, _ = governed
    effective = ledger.today() + dt.timedelta(days=days)
    folder = harsher(copy_policy(tmp_path), effective)
    found = propose(ledger, folder, actor=author.identity, population_dir=tmp_path / "pop")
    assert not found.validation["ok"] and found.impact is None
    assert f"effective {effective} is earlier than the approval date" in found.validation["error"]
    assert "no backdating" in found.validation["error"]
    with pytest.raises(ValidationError, match=r"its validation failed .*no backdating"):
        approve(ledger, found.id, actor=approver.identity, role=approver.role)


def test_a_version_in_force_may_not_be_removed_or_rewritten(
    governed: tuple[Ledger, Caller, Caller, Caller], tmp_path: Path
) -> None:
    ledger, author, _, _ = governed
    folder = copy_policy(tmp_path)
    path = folder / "2020-01-01.toml"
    text = path.read_text(encoding="utf-8")
    start = text.index("[metrics.failure_to_yield]")
    path.write_text(text[:start] + text[start:].replace("points = -3", "points = -6", 1))
    found = propose(ledger, folder, actor=author.identity, population_dir=tmp_path / "pop")
    assert "effective 2020-01-01 is earlier than the approval date" in found.validation["error"]


def test_a_policy_with_notice_is_approved_by_one_approver_and_scores_from_its_date(
    governed: tuple[Ledger, Caller, Caller, Caller], tmp_path: Path
) -> None:
    ledger, author, approver, _ = governed
    effective = ledger.today() + dt.timedelta(days=30)
    folder = harsher(copy_policy(tmp_path), effective)
    found = propose(ledger, folder, actor=author.identity, population_dir=tmp_path / "pop")
    assert found.validation["ok"], found.validation
    assert found.required == 1  # the charter and the registry did not change
    assert found.impact is not None and found.impact["as_of"] == effective.isoformat()
    done = approve(ledger, found.id, actor=approver.identity, role=approver.role)
    assert done.status == "approved"
    policy = approved_policy(ledger.engine)
    assert policy is not None
    assert policy.in_force(effective).metrics["failure_to_yield"].points == -30
    assert policy.in_force(ledger.today()).metrics["failure_to_yield"].points == -3


def test_a_charter_change_needs_two_approvers(
    governed: tuple[Ledger, Caller, Caller, Caller], tmp_path: Path
) -> None:
    ledger, author, first, second = governed
    folder = copy_policy(tmp_path)
    charter = folder / "charter.toml"
    charter.write_text(
        charter.read_text(encoding="utf-8").replace('["邻里关系"]', '["邻里关系", "门禁记录"]')
    )
    found = propose(ledger, folder, actor=author.identity, population_dir=tmp_path / "pop")
    assert found.validation["ok"] and found.required == 2
    assert approve(ledger, found.id, actor=first.identity, role=first.role).status == "open"
    assert approve(ledger, found.id, actor=second.identity, role=second.role).status == "approved"


def test_a_stale_proposal_is_refused(
    governed: tuple[Ledger, Caller, Caller, Caller], tmp_path: Path
) -> None:
    ledger, author, approver, _ = governed
    day = ledger.today()
    one = harsher(copy_policy(tmp_path, "one"), day + dt.timedelta(days=40))
    two = harsher(copy_policy(tmp_path, "two"), day + dt.timedelta(days=50), points=-20)
    first = propose(ledger, one, actor=author.identity, population_dir=tmp_path / "pop")
    second = propose(ledger, two, actor=author.identity, population_dir=tmp_path / "pop")
    approve(ledger, first.id, actor=approver.identity, role=approver.role)
    with pytest.raises(ValidationError, match=rf"proposal {second.id}: stale"):
        approve(ledger, second.id, actor=approver.identity, role=approver.role)


def test_a_rejection_needs_a_reason_and_ends_the_proposal(
    governed: tuple[Ledger, Caller, Caller, Caller], tmp_path: Path
) -> None:
    ledger, author, approver, other = governed
    folder = harsher(copy_policy(tmp_path), ledger.today() + dt.timedelta(days=40))
    found = propose(ledger, folder, actor=author.identity, population_dir=tmp_path / "pop")
    with pytest.raises(ValidationError, match="a rejection gives a reason"):
        reject(ledger, found.id, actor=approver.identity, role=approver.role, reason="  ")
    with pytest.raises(AccessDenied):
        reject(ledger, found.id, actor=author.identity, role=author.role, reason="no")
    done = reject(
        ledger, found.id, actor=approver.identity, role=approver.role, reason="Too harsh."
    )
    assert (done.status, done.reason) == ("rejected", "Too harsh.")
    with pytest.raises(ValidationError, match="was already rejected"):
        approve(ledger, found.id, actor=other.identity, role=other.role)
    with pytest.raises(NotFound):
        approve(ledger, 999, actor=other.identity, role=other.role)
    assert [p.status for p in history(ledger.engine)] == ["approved", "rejected"]


def test_a_failing_authors_test_fails_the_validation(
    governed: tuple[Ledger, Caller, Caller, Caller], tmp_path: Path
) -> None:
    ledger, author, _, _ = governed
    folder = harsher(copy_policy(tmp_path), ledger.today() + dt.timedelta(days=40))
    (folder / "tests" / "wrong.toml").write_text(
        '[[case]]\nname = "wrong on purpose"\non = 2026-11-01\n'
        'records = [{ metric = "failure_to_yield", act = 2026-06-01 }]\n'
        "expect = { score = 100 }\n",
        encoding="utf-8",
    )
    found = propose(ledger, folder, actor=author.identity, population_dir=tmp_path / "pop")
    assert not found.validation["ok"]
    assert (
        "authors' test(s) failed; the first: wrong.toml#0 wrong on purpose"
        in (found.validation["error"])
    )


def test_a_policy_breaking_the_charter_is_stored_as_failed(
    governed: tuple[Ledger, Caller, Caller, Caller], tmp_path: Path
) -> None:
    ledger, author, approver, _ = governed
    folder = harsher(copy_policy(tmp_path), ledger.today() + dt.timedelta(days=40))
    version = folder / f"{ledger.today() + dt.timedelta(days=40)}.toml"
    version.write_text(
        version.read_text(encoding="utf-8").replace(
            'title = "Running a red light"', 'title = "Skipped Friday prayers"'
        )
    )
    found = propose(ledger, folder, actor=author.identity, population_dir=tmp_path / "pop")
    assert "[charter: prohibited.religion]" in found.validation["error"]
    with pytest.raises(ValidationError, match="validation failed"):
        approve(ledger, found.id, actor=approver.identity, role=approver.role)


def test_a_forged_decision_row_is_found_by_verify(
    governed: tuple[Ledger, Caller, Caller, Caller], tmp_path: Path
) -> None:
    ledger, author, _, _ = governed
    folder = harsher(copy_policy(tmp_path), ledger.today() + dt.timedelta(days=40))
    found = propose(ledger, folder, actor=author.identity, population_dir=tmp_path / "pop")
    tamper(
        ledger,
        "INSERT INTO policy_decisions (proposal_id, decision, decided_by, decided_at) "
        f"VALUES ({found.id}, 'approve', 'policy-approver:nobody (key 99)', "
        "'2026-11-01 09:00:00')",
    )
    assert approved(ledger.engine) is not None and approved(ledger.engine).id == found.id  # type: ignore[union-attr]
    with pytest.raises(AuditChainBroken, match="policy_decisions"):
        verify_ledger(ledger.engine)


def test_the_database_refuses_to_edit_a_proposal(ledger: Ledger, tmp_path: Path) -> None:
    approve_policy(ledger, population_dir=tmp_path)
    with pytest.raises(sa.exc.DatabaseError), ledger.engine.begin() as conn:
        conn.execute(sa.text("UPDATE policy_proposals SET bundle = '{}'"))
    with pytest.raises(sa.exc.DatabaseError), ledger.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM policy_decisions"))


def test_two_approvals_at_the_same_moment_are_judged_one_after_the_other(
    governed: tuple[Ledger, Caller, Caller, Caller], tmp_path: Path
) -> None:
    """Two proposals checked against the same policy, approved at once by two people:
    one lands, the other is stale by the time it is judged."""
    import threading

    ledger, author, first, second = governed
    day = ledger.today()
    proposals = [
        propose(
            ledger,
            harsher(copy_policy(tmp_path, name), day + dt.timedelta(days=days)),
            actor=author.identity,
            population_dir=tmp_path / "pop",
        )
        for name, days in (("one", 40), ("two", 50))
    ]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(found_id: int, approver: Caller) -> None:
        barrier.wait()
        try:
            approve(ledger, found_id, actor=approver.identity, role=approver.role)
            outcomes.append("approved")
        except ValidationError as exc:
            outcomes.append("stale" if "stale" in str(exc) else str(exc))

    threads = [
        threading.Thread(target=decide, args=(p.id, who))
        for p, who in zip(proposals, (first, second), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["approved", "stale"]
    assert [p.status for p in history(ledger.engine)].count("approved") == 2  # first + one
