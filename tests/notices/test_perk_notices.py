"""Adverse-action notices from population runs (SQLite and PostgreSQL): a resident who
lost a perk since the last run of the present is told which perk, the records that weigh
most (reason codes), when it comes back at the latest and how to dispute; one who gained
it back is told so; a run of the past tells no one; a repeated comparison writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from tests.factories import OPERATOR, make_id

from osmanthus.core import NewRecord
from osmanthus.i18n import Catalogues
from osmanthus.ledger import Ledger, notices_of, verify_ledger
from osmanthus.notices import render
from osmanthus.notices.perks import perk_notices
from osmanthus.policy.names import Names
from osmanthus.population import run_population


def test_losing_and_regaining_a_perk_between_runs(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> None:
    population = tmp_path / "population"
    number = make_id(sequence=81)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    today = ledger.today()
    first = run_population(ledger, population, as_of=today, actor=OPERATOR)
    assert perk_notices(ledger, first).compared_with is None  # nothing to compare with
    ledger.append_record(
        make_record(
            national_id=number,
            act_date=dt.date(2026, 10, 1),
            decision_date=dt.date(2026, 10, 2),
            source_ref="TP-81",
        ),
        actor=OPERATOR,
    )
    second = run_population(ledger, population, as_of=today, actor=OPERATOR)
    past = run_population(ledger, population, as_of=today - dt.timedelta(days=400), actor=OPERATOR)
    assert perk_notices(ledger, past).written == 0  # a run of the past tells no one
    changes = perk_notices(ledger, second)
    assert (changes.compared_with, changes.lost, changes.gained) == (first.run_id, 1, 0)
    assert perk_notices(ledger, second).written == 0  # the same run twice: one notice
    (lost,) = notices_of(ledger.engine, name, today)
    assert lost.kind == "perk.lost" and lost.payload["perk"] == "civilization_loan"
    assert lost.payload["score"] == 97 and lost.payload["restored_on"] == "2027-10-01"
    assert lost.payload["weighs"] == [
        {
            "code": "failure_to_yield",
            "record": lost.payload["weighs"][0]["record"],
            "points": -3,
            "act_date": "2026-10-01",
        }
    ]
    shown = render(lost, Catalogues().get("en").ugettext, Names.of(ledger.policy.latest, "en"))
    assert shown.subject == "You no longer qualify for Civilization loan at a favourable rate"
    assert any("reason code failure_to_yield" in line for line in shown.lines)
    assert any("2027-10-01" in line for line in shown.lines)
    assert any("20 calendar days" in line for line in shown.lines)

    ledger.retract_record(
        "traffic-police", "TP-81", new_source_ref="TP-81-R", reason="wrong plate", actor=OPERATOR
    )
    third = run_population(ledger, population, as_of=today, actor=OPERATOR)
    assert perk_notices(ledger, third).gained == 1
    assert [n.kind for n in notices_of(ledger.engine, name, today)] == ["perk.gained", "perk.lost"]
    verify_ledger(ledger.engine)
