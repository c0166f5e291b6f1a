import datetime as dt

import numpy as np
import pytest

from factories import OPERATOR, make_id, table_count
from osmanthus.errors import NationalIdError, RecordRefused, ValidationError
from osmanthus.ledger import Ledger, RecordBatch, ResidentBatch, bulk_load


def people(n: int) -> ResidentBatch:
    return ResidentBatch(
        national_id=np.array([make_id(sequence=i) for i in range(n)]),
        district=np.array(["gusu"] * n),
    )


def records(n: int, **columns: object) -> RecordBatch:
    base: dict[str, object] = {
        "resident": np.arange(n, dtype=np.int64) % 3,
        "department": np.array(["traffic-police"] * n),
        "metric": np.array(["failure_to_yield"] * n),
        "value": np.ones(n),
        "act_date": np.array(["2026-06-01"] * n, dtype="datetime64[D]"),
        "decision_date": np.array(["2026-06-02"] * n, dtype="datetime64[D]"),
        "source_ref": np.array([f"B-{i}" for i in range(n)]),
    }
    base.update(columns)
    return RecordBatch(**base)  # type: ignore[arg-type]


def test_bulk_load_writes_residents_records_and_one_audit_entry(ledger: Ledger) -> None:
    audit_before = table_count(ledger, "audit_log")
    result = bulk_load(ledger, people(3), records(6), actor=OPERATOR, batch_id="b1")
    assert (result.residents, result.records) == (3, 6)
    assert table_count(ledger, "audit_log") == audit_before + 1
    resident, rows = ledger.read_resident(make_id(sequence=1), actor=OPERATOR, purpose="t")
    assert resident.birth_year == 1987
    assert [r.source_ref for r in rows] == ["B-1", "B-4"]
    assert rows[0].act_date == dt.date(2026, 6, 1)
    assert rows[0].recorded_at == ledger.now()
    # a second load continues the resident ids
    more = ResidentBatch(
        national_id=np.array([make_id(sequence=10)]), district=np.array(["wuzhong"])
    )
    assert bulk_load(ledger, more, records(0), actor=OPERATOR, batch_id="b2").first_resident_id == 4


@pytest.mark.parametrize(
    ("batch", "error", "message"),
    [
        (
            lambda: records(6, metric=np.array(["failure_to_yield"] * 5 + ["blood_type"])),
            RecordRefused,
            "record row 5: metric 'blood_type' is not in policy",
        ),
        (
            lambda: records(6, department=np.array(["traffic-police"] * 4 + ["tax"] * 2)),
            RecordRefused,
            "record row 4: department 'tax' may not report metric 'failure_to_yield'",
        ),
        (
            lambda: records(4, value=np.array([1.0, 1.0, 3.0, 1.0])),
            RecordRefused,
            "record row 2: metric 'failure_to_yield': expected value 1",
        ),
        (
            lambda: records(3, source_ref=np.array(["X", "Y", "X"])),
            RecordRefused,
            "row 2: source_ref: the same department source reference appears twice",
        ),
        (
            lambda: records(
                3,
                act_date=np.array(
                    ["2026-06-01", "2027-01-01", "2026-06-01"], dtype="datetime64[D]"
                ),
            ),
            ValidationError,
            "record row 1: act_date: in the future",
        ),
        (
            lambda: records(2, resident=np.array([0, 7])),
            ValidationError,
            "record row 1: resident: no such row",
        ),
    ],
)
def test_one_bad_row_writes_nothing(ledger: Ledger, batch, error, message) -> None:  # type: ignore[no-untyped-def]
    audit_before = table_count(ledger, "audit_log")
    with pytest.raises(error, match=message):
        bulk_load(ledger, people(3), batch(), actor=OPERATOR, batch_id="bad")
    assert table_count(ledger, "residents") == 0
    assert table_count(ledger, "records") == 0
    assert table_count(ledger, "audit_log") == audit_before


def test_bad_national_id_in_batch_names_the_row(ledger: Ledger) -> None:
    batch = people(4)
    batch.national_id[3] = make_id(born="19870231")
    with pytest.raises(NationalIdError, match=r"row 3: national ID .* not a real date"):
        bulk_load(ledger, batch, records(0), actor=OPERATOR, batch_id="bad")
    assert table_count(ledger, "residents") == 0


def test_source_ref_clash_with_the_ledger_rolls_back_everything(ledger: Ledger) -> None:
    bulk_load(ledger, people(3), records(3), actor=OPERATOR, batch_id="b1")
    fresh = ResidentBatch(
        national_id=np.array([make_id(sequence=50 + i) for i in range(3)]),
        district=np.array(["gusu"] * 3),
    )
    with pytest.raises(RecordRefused, match="refused by the database"):
        bulk_load(ledger, fresh, records(3), actor=OPERATOR, batch_id="b2")
    assert table_count(ledger, "residents") == 3
    assert table_count(ledger, "records") == 3


def test_duplicate_resident_in_batch_is_refused(ledger: Ledger) -> None:
    batch = people(3)
    batch.national_id[2] = batch.national_id[0]
    with pytest.raises(RecordRefused, match="row 2: national_id: the same resident appears twice"):
        bulk_load(ledger, batch, records(0), actor=OPERATOR, batch_id="dup")


def test_resident_already_in_the_ledger_names_the_row(ledger: Ledger) -> None:
    bulk_load(ledger, people(3), records(0), actor=OPERATOR, batch_id="b1")
    again = ResidentBatch(
        national_id=np.array([make_id(sequence=9), make_id(sequence=2)]),
        district=np.array(["gusu", "gusu"]),
    )
    with pytest.raises(RecordRefused, match="row 1: national_id: this resident is already"):
        bulk_load(ledger, again, records(0), actor=OPERATOR, batch_id="b2")
    assert table_count(ledger, "residents") == 3


def test_missing_dates_are_refused_with_the_row(ledger: Ledger) -> None:
    batch = records(
        3, act_date=np.array(["2026-06-01", "NaT", "2026-06-01"], dtype="datetime64[D]")
    )
    with pytest.raises(ValidationError, match="record row 1: act_date: missing or not a date"):
        bulk_load(ledger, people(3), batch, actor=OPERATOR, batch_id="nat")
    assert table_count(ledger, "records") == 0
