import datetime as dt
from collections.abc import Callable
from dataclasses import replace

import pytest
import sqlalchemy as sa

from factories import OPERATOR, make_id, table_count
from osmanthus.errors import NationalIdError, NotFound, RecordRefused, ValidationError
from osmanthus.ledger import Actor, Ledger, NewRecord

TRAFFIC = Actor("department", "traffic-police")


def test_resident_is_stored_by_pseudonym_only(ledger: Ledger) -> None:
    number = make_id()
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    with ledger.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM residents")).mappings().one()
    assert number not in str(dict(row)) and number[:17] not in str(dict(row))
    assert row["pseudonym"] == ledger.pseudonym_of(number)
    assert row["birth_year"] == 1987 and row["district"] == "gusu"


def test_registering_twice_is_refused(ledger: Ledger) -> None:
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    with pytest.raises(RecordRefused, match="already registered"):
        ledger.register_resident(make_id(), "gusu", actor=OPERATOR)


def test_invalid_number_is_refused_before_anything_is_written(ledger: Ledger) -> None:
    before = table_count(ledger, "audit_log")
    with pytest.raises(NationalIdError, match="check digit"):
        ledger.register_resident(
            make_id()[:17] + "9" if make_id()[17] != "9" else make_id()[:17] + "8",
            "gusu",
            actor=OPERATOR,
        )
    assert table_count(ledger, "residents") == 0
    assert table_count(ledger, "audit_log") == before


def test_record_append_and_audited_read(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    ledger.append_record(make_record(), actor=TRAFFIC)
    resident, rows = ledger.read_resident(make_id(), actor=OPERATOR, purpose="test look-up")
    assert [r.metric for r in rows] == ["failure_to_yield"]
    assert rows[0].department == "traffic-police" and rows[0].kind == "original"
    with ledger.engine.connect() as conn:
        last = conn.execute(
            sa.text(
                "SELECT actor, action, subject, purpose FROM audit_log ORDER BY seq DESC LIMIT 1"
            )
        ).one()
    assert tuple(last) == ("operator:test", "resident.read", resident.pseudonym, "test look-up")


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (
            {"metric": "queue_jumping"},
            RecordRefused,
            "metric 'queue_jumping' is not in policy",
        ),
        (
            {"department": "tax"},
            RecordRefused,
            "department 'tax' may not report metric 'failure_to_yield'",
        ),
        ({"department": "temple"}, RecordRefused, "department 'temple' is not in policy"),
        (
            {"metric": "volunteer_hours", "department": "volunteer-registry", "value": -3},
            RecordRefused,
            "value -3 is outside the range",
        ),
        ({"value": 2}, RecordRefused, "expected value 1 for a fixed-point metric"),
        (
            {"act_date": dt.date(2026, 11, 2), "decision_date": dt.date(2026, 11, 2)},
            ValidationError,
            "act_date: 2026-11-02 is in the future",
        ),
        ({"decision_date": dt.date(2026, 5, 1)}, ValidationError, "before the act date"),
        (
            {
                "metric": "emergency_rescue_service",
                "department": "emergency-management",
                "act_date": dt.date(2024, 10, 31),
                "decision_date": dt.date(2024, 11, 5),
            },
            RecordRefused,
            "before its legal basis took effect",
        ),
    ],
)
def test_refused_records_write_nothing(
    ledger: Ledger,
    make_record: Callable[..., NewRecord],
    overrides: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    audit_before = table_count(ledger, "audit_log")
    with pytest.raises(error, match=message):
        ledger.append_record(make_record(**overrides), actor=TRAFFIC)
    assert table_count(ledger, "records") == 0
    assert table_count(ledger, "audit_log") == audit_before


def test_unregistered_resident_is_not_found(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    with pytest.raises(NotFound, match="is not registered"):
        ledger.append_record(make_record(), actor=TRAFFIC)


def test_source_reference_is_unique_per_department(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    ledger.append_record(make_record(source_ref="TP-1"), actor=TRAFFIC)
    with pytest.raises(RecordRefused, match="source_ref 'TP-1' is already used"):
        ledger.append_record(
            make_record(source_ref="TP-1", metric="running_red_light"), actor=TRAFFIC
        )
    assert table_count(ledger, "records") == 1


def test_correction_and_retraction_are_new_rows(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    hours = make_record(
        metric="volunteer_hours", department="volunteer-registry", value=30, source_ref="V-1"
    )
    original = ledger.append_record(hours, actor=TRAFFIC)
    fixed = ledger.correct_record(
        "volunteer-registry",
        "V-1",
        value=40,
        new_source_ref="V-1c",
        reason="statement mis-keyed",
        actor=TRAFFIC,
    )
    with pytest.raises(RecordRefused, match="already corrected or retracted"):
        ledger.retract_record(
            "volunteer-registry", "V-1", new_source_ref="V-1r", reason="duplicate", actor=TRAFFIC
        )
    gone = ledger.retract_record(
        "volunteer-registry", "V-1c", new_source_ref="V-1r", reason="duplicate", actor=TRAFFIC
    )
    _, rows = ledger.read_resident(make_id(), actor=OPERATOR, purpose="test")
    assert [(r.id, r.kind, r.supersedes_id, r.value) for r in rows] == [
        (original, "original", None, 30.0),
        (fixed, "correction", original, 40.0),
        (gone, "retraction", fixed, 40.0),
    ]
    with pytest.raises(ValidationError, match="a reason is required"):
        ledger.correct_record(
            "volunteer-registry", "V-1", value=1, new_source_ref="x", reason=" ", actor=TRAFFIC
        )


def test_known_at_hides_later_rows(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: object
) -> None:
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    ledger.append_record(make_record(source_ref="A"), actor=TRAFFIC)
    first_known = clock.now  # type: ignore[attr-defined]
    clock.advance(hours=1)  # type: ignore[attr-defined]
    ledger.retract_record(
        "traffic-police", "A", new_source_ref="A-r", reason="wrong plate", actor=TRAFFIC
    )
    _, then = ledger.read_resident(make_id(), actor=OPERATOR, purpose="t", known_at=first_known)
    _, now = ledger.read_resident(make_id(), actor=OPERATOR, purpose="t")
    assert [r.kind for r in then] == ["original"]
    assert [r.kind for r in now] == ["original", "retraction"]


def test_a_read_must_state_a_purpose(ledger: Ledger) -> None:
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    with pytest.raises(ValidationError, match="must state a purpose"):
        ledger.read_resident(make_id(), actor=OPERATOR, purpose="  ")


def test_today_is_the_city_s_date_not_utc(
    db_url: str, policy: object, make_record: Callable[..., NewRecord]
) -> None:
    from zoneinfo import ZoneInfo

    from factories import TEST_KEY
    from osmanthus.ledger import connect, migrate

    late_evening_utc = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)  # 01:00 on 28 Nov in Suzhou
    engine = connect(db_url)
    migrate(engine)
    ledger = Ledger(
        engine,
        policy,
        TEST_KEY,
        clock=lambda: late_evening_utc,  # type: ignore[arg-type]
        timezone=ZoneInfo("Asia/Shanghai"),
    )
    ledger.sync_departments(OPERATOR)
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    assert ledger.today() == dt.date(2026, 11, 28)
    ledger.append_record(
        make_record(act_date=dt.date(2026, 11, 28), decision_date=dt.date(2026, 11, 28)),
        actor=TRAFFIC,
    )
    engine.dispose()


def test_profile_facts_need_a_declaring_rule(
    tmp_path: object, make_ledger: Callable[..., Ledger]
) -> None:
    from pathlib import Path

    from minimal_policy import MINIMAL, policy_from

    text = MINIMAL + (
        '\n[cycle]\nlength = "12m"\nanchor = "licence_issued"\n\n[profile.licence_issued]\n'
        'title = "Licence issued"\ncategory = "driving_licence"\nreported_by = ["dept"]\n'
    )
    ledger = make_ledger(policy_from(Path(str(tmp_path)), text))
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    with pytest.raises(RecordRefused, match="'education' is not declared by policy test"):
        ledger.record_profile(
            make_id(),
            "education",
            dt.date(2010, 7, 1),
            department="dept",
            source_ref="P-0",
            actor=OPERATOR,
        )
    ledger.record_profile(
        make_id(),
        "licence_issued",
        dt.date(2019, 3, 4),
        department="dept",
        source_ref="P-1",
        actor=OPERATOR,
    )
    ledger.record_profile(
        make_id(),
        "licence_issued",
        dt.date(2019, 4, 4),
        department="dept",
        source_ref="P-2",
        actor=OPERATOR,
    )
    resident, _ = ledger.read_resident(make_id(), actor=OPERATOR, purpose="t")
    assert resident.subject.profile == {"licence_issued": dt.date(2019, 4, 4)}


def test_severity_is_stored_and_checked(
    tmp_path: object, make_ledger: Callable[..., Ledger]
) -> None:
    from pathlib import Path

    from minimal_policy import BASIS, MINIMAL, policy_from

    text = MINIMAL + (
        f'\n[metrics.offence]\ntitle = "Offence"\ncategory = "traffic"\nreported_by = ["dept"]\n'
        f'{BASIS}\n[metrics.offence.severity.minor]\npoints = -1\nexpiry = "1y"\n'
    )
    ledger = make_ledger(policy_from(Path(str(tmp_path)), text))
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    base = NewRecord(
        national_id=make_id(),
        department="dept",
        metric="offence",
        act_date=dt.date(2026, 6, 1),
        decision_date=dt.date(2026, 6, 1),
        source_ref="S-1",
    )
    with pytest.raises(RecordRefused, match="severity None is not one of minor"):
        ledger.append_record(base, actor=TRAFFIC)
    with pytest.raises(RecordRefused, match="severity 'grave' is not one of minor"):
        ledger.append_record(replace(base, severity="grave"), actor=TRAFFIC)
    ledger.append_record(replace(base, severity="minor"), actor=TRAFFIC)
    _, rows = ledger.read_resident(make_id(), actor=OPERATOR, purpose="t")
    assert rows[0].severity == "minor"


def test_known_at_before_registration_knows_no_resident(ledger: Ledger, clock: object) -> None:
    before = clock.now  # type: ignore[attr-defined]
    clock.advance(days=1)  # type: ignore[attr-defined]
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    with pytest.raises(NotFound, match="was not yet registered"):
        ledger.read_resident(make_id(), actor=OPERATOR, purpose="t", known_at=before)
    from osmanthus.ledger import iter_population

    assert list(iter_population(ledger.engine, actor=OPERATOR, purpose="t", known_at=before)) == []
    assert len(list(iter_population(ledger.engine, actor=OPERATOR, purpose="t"))) == 1
