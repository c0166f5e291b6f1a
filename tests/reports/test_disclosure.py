"""Reporting limits (SQLite and PostgreSQL): the signed credit report lists a record only
while it may be given to others, says how many it left out by which rule, and still
verifies offline; the resident's own explanation keeps every record as history."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from reports_fixtures import BOB

from factories import OPERATOR, POLICY_DIR
from osmanthus.errors import PolicyError, SignatureInvalid
from osmanthus.ledger import Actor, Ledger, NewRecord
from osmanthus.policy import load_policy
from osmanthus.reports import SigningKey, credit_report, read_credit_report, report_lines
from osmanthus.scoring import explain

POLICE = Actor("department", "traffic-police")


def _policy(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, folder)
    path = folder / "2020-01-01.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


YIELD = 'points = -3\nexpiry = "1y"\nrepair_tier = "general"\n'  # failure_to_yield


@pytest.fixture
def limited(
    tmp_path: Path, make_ledger: Callable[..., Ledger], make_record: Callable[..., NewRecord]
) -> Ledger:
    """Failure to yield counts a year and may be reported for six months; Bob has one
    recent, one older than six months, one expired and one retracted."""
    folder = _policy(
        tmp_path, YIELD, YIELD.replace('expiry = "1y"\n', 'expiry = "1y"\nreportable_for = "6m"\n')
    )
    ledger = make_ledger(load_policy(folder))
    ledger.register_resident(BOB, "gusu", actor=OPERATOR)
    for ref, act in (
        ("Y-recent", dt.date(2026, 10, 1)),
        ("Y-older", dt.date(2026, 2, 1)),
        ("Y-expired", dt.date(2025, 6, 1)),
        ("Y-wrong", dt.date(2026, 9, 1)),
    ):
        ledger.append_record(
            make_record(national_id=BOB, act_date=act, decision_date=act, source_ref=ref),
            actor=OPERATOR,
        )
    ledger.retract_record(
        "traffic-police", "Y-wrong", new_source_ref="Y-wrong-r", reason="wrong plate", actor=POLICE
    )
    return ledger


def test_the_report_leaves_out_what_may_not_be_given_to_others(
    limited: Ledger, city_key: SigningKey
) -> None:
    envelope = credit_report(
        limited, BOB, key=city_key, actor=Actor("resident", "self"), purpose="lease"
    )
    body = read_credit_report(envelope, [city_key.public], today=limited.today()).body
    assert body["score"] == 94  # the older record still counts: it is only not listed
    assert [r["source_ref"] for r in body["records"]] == ["Y-recent"]
    assert {o["rule"]: o["records"] for o in body["omitted"]} == {
        "expired": 1,
        "replaced": 2,  # the retracted record and its retraction
        "reporting_limit": 1,
    }
    text = report_lines(envelope)
    assert "  not shown: 1 record(s), past the reporting limit of its record class" in text
    # the resident still sees every record as history
    resident, rows = limited.read_resident(BOB, actor=OPERATOR, purpose="test")
    found = explain(rows, limited.policy, limited.today(), subject=resident.subject)
    assert len(found.lines) == 5
    # leaving out fewer (or more) is a change of the signed body: it no longer verifies
    envelope["body"]["omitted"] = []
    with pytest.raises(SignatureInvalid):
        read_credit_report(envelope, [city_key.public], today=limited.today())


def test_a_record_in_its_over_lie_period_is_shown_a_removed_one_is_not(
    tmp_path: Path,
    make_ledger: Callable[..., Ledger],
    make_record: Callable[..., NewRecord],
    city_key: SigningKey,
) -> None:
    folder = _policy(
        tmp_path, YIELD, YIELD.replace('expiry = "1y"\n', 'expiry = "1y"\noverlie = "6m"\n')
    )
    ledger = make_ledger(load_policy(folder))
    ledger.register_resident(BOB, "gusu", actor=OPERATOR)
    for ref, act in (("held", dt.date(2025, 8, 1)), ("gone", dt.date(2025, 1, 1))):
        ledger.append_record(
            make_record(national_id=BOB, act_date=act, decision_date=act, source_ref=ref),
            actor=OPERATOR,
        )
    envelope = credit_report(ledger, BOB, key=city_key, actor=OPERATOR, purpose="lease")
    body = read_credit_report(envelope, [city_key.public], today=ledger.today()).body
    assert [(r["source_ref"], r["status"]) for r in body["records"]] == [("held", "expired")]
    assert body["omitted"] == [
        {"rule": "removed", "text": "removed after its over-lie period", "records": 1}
    ]


def test_a_reporting_limit_must_be_a_period(tmp_path: Path) -> None:
    folder = _policy(
        tmp_path,
        YIELD,
        YIELD.replace('expiry = "1y"\n', 'expiry = "1y"\nreportable_for = "soon"\n'),
    )
    with pytest.raises(PolicyError, match="reportable_for"):
        load_policy(folder)
