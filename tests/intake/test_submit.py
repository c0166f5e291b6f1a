"""Submitting batches into a real ledger (SQLite and PostgreSQL): all or nothing, partial,
idempotent, duplicates, unknown residents, repeated incidents, corrections, audit."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from factories import OPERATOR, make_id, table_count
from osmanthus.errors import ProhibitedData, RecordRefused
from osmanthus.intake import load_outcome, submit_batch
from osmanthus.ledger import Actor, Ledger, verify_chain, verify_ledger

TRAFFIC = Actor("department", "traffic-police")
HEADER = ("national_id", "metric", "act_date", "decision_date", "source_ref", "value")


def people(ledger: Ledger, count: int = 3) -> list[str]:
    ids = [make_id(sequence=i) for i in range(1, count + 1)]
    for number in ids:
        ledger.register_resident(number, "gusu", actor=OPERATOR)
    return ids


def csv_file(path: Path, rows: list[dict[str, str]], header: tuple[str, ...] = HEADER) -> Path:
    lines = [",".join(header)] + [",".join(row.get(h, "") for h in header) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def row(number: str, ref: str, **fields: str) -> dict[str, str]:
    return {
        "national_id": number,
        "metric": "failure_to_yield",
        "act_date": "2026-06-01",
        "decision_date": "2026-06-03",
        "source_ref": ref,
        "value": "1",
        **fields,
    }


def submit(ledger: Ledger, path: Path, **options: object) -> object:
    return submit_batch(ledger, path, department="traffic-police", actor=TRAFFIC, **options)  # type: ignore[arg-type]


#: A batch's columns with incidents, corrections and retractions.
WITH_ACTIONS = (*HEADER, "incident_ref", "action", "supersedes", "reason")


def incident_reported_elsewhere(ledger: Ledger, tmp_path: Path, number: str, ref: str) -> None:
    """Public security reports incident ``ref`` about resident ``number`` first."""
    court = csv_file(
        tmp_path / "c.csv",
        [row(number, "C-1", metric="public_order_detention", incident_ref=ref)],
        (*HEADER, "incident_ref"),
    )
    ps = Actor("department", "ps")
    assert submit_batch(ledger, court, department="public-security", actor=ps).accepted == 1


def records_of_batch(ledger: Ledger, batch_id: str) -> int:
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM records WHERE batch_id = :b"), {"b": batch_id}
            ).scalar_one()
        )


def test_a_clean_batch_is_committed_with_one_audit_entry(ledger: Ledger, tmp_path: Path) -> None:
    ids = people(ledger)
    path = csv_file(tmp_path / "b.csv", [row(n, f"TP-{i}") for i, n in enumerate(ids)])
    audit_before = table_count(ledger, "audit_log")
    outcome = submit_batch(ledger, path, department="traffic-police", actor=TRAFFIC, batch_id="B1")
    assert (outcome.status, outcome.rows, outcome.accepted, outcome.refused) == (
        "committed",
        3,
        3,
        0,
    )
    assert outcome.metrics == {"failure_to_yield": 3}
    assert records_of_batch(ledger, "B1") == 3
    assert table_count(ledger, "audit_log") == audit_before + 1
    verify_chain(ledger.engine)
    _, rows = ledger.read_resident(ids[0], actor=OPERATOR, purpose="test")
    assert [r.source_ref for r in rows] == ["TP-0"]


def test_one_bad_row_refuses_the_whole_batch_and_the_report_is_kept(
    ledger: Ledger, tmp_path: Path
) -> None:
    ids = people(ledger)
    rows = [row(n, f"TP-{i}") for i, n in enumerate(ids)] + [row(ids[0], "TP-X", value="-3")]
    path = csv_file(tmp_path / "b.csv", rows)
    records_before = table_count(ledger, "records")
    outcome = submit(ledger, path, batch_id="B2")
    assert (outcome.status, outcome.accepted, outcome.refused) == ("refused", 0, 4)
    assert [(p.row, p.field) for p in outcome.problems] == [(4, "value")]
    assert table_count(ledger, "records") == records_before
    stored = load_outcome_of(ledger, "B2")
    assert stored.status == "refused" and stored.problems == outcome.problems
    verify_chain(ledger.engine)


def load_outcome_of(ledger: Ledger, batch_id: str) -> object:
    with ledger.engine.connect() as conn:
        return load_outcome(conn, batch_id)


def test_partial_commits_the_valid_rows_and_reports_the_rest(
    ledger: Ledger, tmp_path: Path
) -> None:
    ids = people(ledger, 2)
    unknown = make_id(sequence=99)
    rows = [row(ids[0], "TP-1"), row(unknown, "TP-2"), row(ids[1], "TP-3", act_date="2026-02-30")]
    outcome = submit(ledger, csv_file(tmp_path / "b.csv", rows), batch_id="P1", partial=True)
    assert (outcome.status, outcome.accepted, outcome.refused) == ("partial", 1, 2)
    found = {(p.row, p.field): p.reason for p in outcome.problems}
    assert found[(2, "national_id")] == "no registered resident has this national ID"
    shown = next(p.value for p in outcome.problems if p.row == 2)
    assert shown == unknown[:6] + "********" + unknown[-4:]  # masked, even in the report
    assert found[(3, "act_date")] == "expected a real date YYYY-MM-DD"
    assert records_of_batch(ledger, "P1") == 1


def test_resubmitting_the_same_batch_changes_nothing(ledger: Ledger, tmp_path: Path) -> None:
    ids = people(ledger)
    path = csv_file(tmp_path / "b.csv", [row(n, f"TP-{i}") for i, n in enumerate(ids)])
    first = submit(ledger, path)  # the batch id defaults to the file's fingerprint
    counts = (table_count(ledger, "records"), table_count(ledger, "audit_log"))
    again = submit(ledger, path)
    assert again.repeated and not first.repeated
    assert (again.batch_id, again.status, again.accepted) == (first.batch_id, "committed", 3)
    assert (table_count(ledger, "records"), table_count(ledger, "audit_log")) == counts


def test_a_committed_batch_id_cannot_be_reused_for_another_file(
    ledger: Ledger, tmp_path: Path
) -> None:
    ids = people(ledger)
    submit(ledger, csv_file(tmp_path / "a.csv", [row(ids[0], "TP-1")]), batch_id="B")
    with pytest.raises(RecordRefused, match="batch id 'B' was already committed for another file"):
        submit(ledger, csv_file(tmp_path / "b.csv", [row(ids[1], "TP-2")]), batch_id="B")


def test_a_refused_batch_may_be_retried_under_its_id(ledger: Ledger, tmp_path: Path) -> None:
    ids = people(ledger)
    bad = csv_file(tmp_path / "a.csv", [row(ids[0], "TP-1", act_date="2099-01-01")])
    assert submit(ledger, bad, batch_id="R").status == "refused"
    fixed = csv_file(tmp_path / "b.csv", [row(ids[0], "TP-1")])
    assert submit(ledger, fixed, batch_id="R").status == "committed"
    assert submit(ledger, bad, batch_id="R").status == "refused"  # its first outcome


def test_another_batch_reusing_a_source_ref_is_refused_for_those_rows(
    ledger: Ledger, tmp_path: Path
) -> None:
    ids = people(ledger)
    submit(ledger, csv_file(tmp_path / "a.csv", [row(ids[0], "TP-1")]), batch_id="A")
    rows = [row(ids[1], "TP-1"), row(ids[2], "TP-2")]
    outcome = submit(ledger, csv_file(tmp_path / "b.csv", rows), batch_id="B", partial=True)
    assert (outcome.accepted, outcome.refused) == (1, 1)
    problem = outcome.problems[0]
    assert (problem.row, problem.field, problem.value) == (1, "source_ref", "TP-1")
    assert problem.reason == "already recorded by this department (batch A)"


def test_a_repeat_within_the_batch_across_chunks_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    ids = people(ledger)
    rows = [row(ids[0], "TP-1"), row(ids[1], "TP-2"), row(ids[2], "TP-1")]
    path = csv_file(tmp_path / "b.csv", rows)
    outcome = submit(ledger, path, batch_id="C", partial=True, chunk_rows=1)
    assert [(p.row, p.reason) for p in outcome.problems] == [
        (3, "repeats an earlier row of this batch")
    ]
    assert outcome.accepted == 2


def test_what_the_ledger_refuses_is_named_by_row_in_a_batch_of_many_chunks(
    ledger: Ledger, tmp_path: Path
) -> None:
    """On PostgreSQL many chunks are staged before they are written (a window): each
    refusal must still name its own row, the counts must leave it out, and a correction
    may name a row of an earlier chunk still staged."""
    ids = people(ledger, 3)
    stranger = make_id(sequence=99)  # valid, never registered
    header = WITH_ACTIONS
    incident_reported_elsewhere(ledger, tmp_path, ids[0], "INC-7")
    rows = [
        row(ids[0], "TP-1"),  # 1
        row(stranger, "TP-2", metric="running_red_light"),  # 2: no such resident
        row(ids[1], "TP-3", metric="running_red_light"),  # 3
        row(ids[2], "TP-1"),  # 4: repeats row 1, in another chunk
        row(ids[2], "TP-5", incident_ref="INC-7"),  # 5: flagged, kept
        row(ids[1], "TP-6", value="", action="retract", supersedes="TP-3", reason="twice"),
        row(stranger, "TP-7"),  # 7: no such resident
    ]
    path = csv_file(tmp_path / "b.csv", rows, header)
    outcome = submit(ledger, path, batch_id="W", partial=True, chunk_rows=2)
    assert [(p.row, p.field, p.level) for p in outcome.problems] == [
        (2, "national_id", "refused"),
        (4, "source_ref", "refused"),
        (5, "incident_ref", "flagged"),
        (7, "national_id", "refused"),
    ]
    assert outcome.problems[1].reason == "repeats an earlier row of this batch"
    assert outcome.problems[0].value == stranger[:6] + "********" + stranger[-4:]
    assert (outcome.rows, outcome.accepted, outcome.refused, outcome.flagged) == (7, 4, 3, 1)
    assert outcome.metrics == {"failure_to_yield": 3, "running_red_light": 1}
    assert records_of_batch(ledger, "W") == 4
    _, kept = ledger.read_resident(ids[1], actor=OPERATOR, purpose="test")
    assert [(r.source_ref, r.kind) for r in kept] == [("TP-3", "original"), ("TP-6", "retraction")]
    verify_ledger(ledger.engine)  # the chain, and each row written under its entry


@pytest.mark.parametrize("chunk_rows", [1, 2])
def test_a_row_that_cannot_be_written_leaves_its_reference_free(
    ledger: Ledger, tmp_path: Path, chunk_rows: int
) -> None:
    """A reference first used by a row of an unregistered resident (never written) may be
    used by a later row, whatever else in the window collides (found by a review: on
    PostgreSQL the later row was refused as a repeat once another row was taken)."""
    ids = people(ledger, 3)
    stranger = make_id(sequence=99)
    submit(ledger, csv_file(tmp_path / "a.csv", [row(ids[0], "OLD-1")]), batch_id="A")
    rows = [
        row(stranger, "X"),  # 1: no such resident, not written
        row(ids[1], "P"),
        row(ids[1], "Q"),
        row(ids[1], "X"),  # 4: X is free
        row(ids[2], "OLD-1"),  # 5: used by batch A
    ]
    path = csv_file(tmp_path / "b.csv", rows)
    outcome = submit(ledger, path, batch_id="B", partial=True, chunk_rows=chunk_rows)
    assert [(p.row, p.field) for p in outcome.problems] == [(1, "national_id"), (5, "source_ref")]
    assert outcome.accepted == 3 and records_of_batch(ledger, "B") == 3


@pytest.mark.parametrize(("window", "chunk_rows"), [(1, 1), (3, 1), (3, 2), (5, 3)])
def test_refusals_and_corrections_are_the_same_for_any_window(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int, chunk_rows: int
) -> None:
    """The window (rows staged before they are written; PostgreSQL's is 200,000) changes
    nothing of the outcome: each refusal on its own row, the counts, the rows sealed."""
    import osmanthus.ledger.staged as staged

    monkeypatch.setattr(staged, "PG_WINDOW_ROWS", window)
    ids = people(ledger, 3)
    stranger = make_id(sequence=99)
    header = WITH_ACTIONS
    incident_reported_elsewhere(ledger, tmp_path, ids[0], "INC-7")
    submit(ledger, csv_file(tmp_path / "a.csv", [row(ids[0], "OLD-1")]), batch_id="A")
    rows = [
        row(ids[0], "T1"),
        row(stranger, "T2", metric="running_red_light"),  # 2: no such resident
        row(ids[1], "T3", metric="running_red_light"),
        row(ids[2], "T1"),  # 4: repeats row 1
        row(ids[2], "T5", incident_ref="INC-7"),  # 5: flagged
        row(ids[1], "T6", value="", action="retract", supersedes="T3", reason="twice"),
        row(stranger, "T7"),  # 7: no such resident
        row(ids[0], "OLD-1", metric="running_red_light"),  # 8: used by batch A
        row(ids[1], "T9", metric="running_red_light"),
        row(ids[0], "T10", value="1", action="correct", supersedes="T1", reason="x"),
        row(ids[2], "T9", metric="running_red_light"),  # 11: repeats row 9
        row(ids[2], "T12"),
    ]
    path = csv_file(tmp_path / "b.csv", rows, header)
    outcome = submit(ledger, path, batch_id="W", partial=True, chunk_rows=chunk_rows)
    assert [(p.row, p.field, p.level) for p in outcome.problems] == [
        (2, "national_id", "refused"),
        (4, "source_ref", "refused"),
        (5, "incident_ref", "flagged"),
        (7, "national_id", "refused"),
        (8, "source_ref", "refused"),
        (11, "source_ref", "refused"),
    ]
    assert (outcome.rows, outcome.accepted, outcome.refused, outcome.flagged) == (12, 7, 5, 1)
    assert outcome.metrics == {"failure_to_yield": 5, "running_red_light": 2}
    assert records_of_batch(ledger, "W") == 7
    verify_ledger(ledger.engine)


def test_a_window_of_one_chunk_does_not_look_for_repeats_across_chunks(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Within one chunk the checks refuse repeats before the ledger sees them; the
    window's search for repeats (a self-join of the stage, quadratic on SQLite) runs
    only when the window holds several chunks (found by a review: 12 s for one used
    reference in a 20,000-row chunk on SQLite)."""
    ids = people(ledger, 2)
    submit(ledger, csv_file(tmp_path / "a.csv", [row(ids[0], "OLD-1")]), batch_id="A")
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    sa.event.listen(ledger.engine, "before_cursor_execute", seen)
    try:
        rows = [row(ids[1], "OLD-1"), row(ids[1], "N-1"), row(ids[0], "N-2")]
        outcome = submit(ledger, csv_file(tmp_path / "b.csv", rows), batch_id="B", partial=True)
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", seen)
    assert outcome.accepted == 2
    assert not [s for s in statements if "t.source_ref = s.source_ref" in s]


def test_an_incident_already_reported_by_another_department_is_kept_and_flagged(
    ledger: Ledger, tmp_path: Path
) -> None:
    ids = people(ledger, 1)
    header = (*HEADER, "incident_ref")
    court = csv_file(
        tmp_path / "c.csv",
        [row(ids[0], "C-1", metric="public_order_detention", **{"incident_ref": "INC-7"})],
        header,
    )
    first = submit_batch(
        ledger, court, department="public-security", actor=Actor("department", "ps"), batch_id="C1"
    )
    assert first.status == "committed", first.problems
    traffic = csv_file(tmp_path / "t.csv", [row(ids[0], "TP-1", incident_ref="INC-7")], header)
    outcome = submit(ledger, traffic, batch_id="T1")
    assert (outcome.status, outcome.accepted, outcome.flagged) == ("committed", 1, 1)
    problem = outcome.problems[0]
    assert (problem.level, problem.field) == ("flagged", "incident_ref")
    assert problem.reason == "incident already reported by public-security: kept, and counted once"


def test_corrections_and_retractions_by_file_keep_the_original(
    ledger: Ledger, tmp_path: Path
) -> None:
    ids = people(ledger, 2)
    header = (*HEADER, "action", "supersedes", "reason")
    first = [
        row(ids[0], "V-1", metric="volunteer_hours", value="10"),
        row(ids[1], "V-2", metric="volunteer_hours", value="5"),
    ]
    dept = Actor("department", "volunteer-registry")
    opts = {"department": "volunteer-registry", "actor": dept}
    assert submit_batch(ledger, csv_file(tmp_path / "a.csv", first, header), **opts).accepted == 2
    fixes = [
        row(
            ids[0],
            "V-1c",
            metric="volunteer_hours",
            value="12",
            action="correct",
            supersedes="V-1",
            reason="hours miscounted",
        ),
        row(
            ids[1],
            "V-2r",
            metric="volunteer_hours",
            value="",
            action="retract",
            supersedes="V-2",
            reason="entered twice",
        ),
        row(
            ids[1],
            "V-3r",
            metric="volunteer_hours",
            value="",
            action="retract",
            supersedes="V-404",
            reason="typo",
        ),
    ]
    outcome = submit_batch(
        ledger, csv_file(tmp_path / "b.csv", fixes, header), partial=True, **opts
    )
    assert (outcome.accepted, outcome.refused) == (2, 1)
    assert outcome.problems[0].reason == "department 'volunteer-registry' has no record 'V-404'"
    _, rows = ledger.read_resident(ids[0], actor=OPERATOR, purpose="test")
    assert [(r.kind, r.value) for r in rows] == [("original", 10.0), ("correction", 12.0)]
    _, rows = ledger.read_resident(ids[1], actor=OPERATOR, purpose="test")
    assert [r.kind for r in rows] == ["original", "retraction"]


def test_a_prohibited_metric_is_refused_and_the_refusal_audited(
    ledger: Ledger, tmp_path: Path
) -> None:
    ids = people(ledger, 2)
    rows = [row(ids[0], "TP-1"), row(ids[1], "TP-2", metric="religious_attendance")]
    outcome = submit(ledger, csv_file(tmp_path / "b.csv", rows), batch_id="X", partial=True)
    assert outcome.accepted == 1
    entries = audit_actions(ledger)
    assert "intake.refused_prohibited" in entries
    detail = entries["intake.refused_prohibited"]
    assert detail["category"] == "religious_attendance" and detail["rows"] == 1


def test_a_prohibited_column_refuses_the_file_and_is_audited(
    ledger: Ledger, tmp_path: Path
) -> None:
    ids = people(ledger, 1)
    header = (*HEADER, "blood_type")
    path = csv_file(tmp_path / "b.csv", [row(ids[0], "TP-1", blood_type="A")], header)
    with pytest.raises(ProhibitedData, match="column 'blood_type' is prohibited data"):
        submit(ledger, path, batch_id="Y")
    assert audit_actions(ledger)["intake.refused_prohibited"]["category"] == "blood_type"
    assert records_of_batch(ledger, "Y") == 0


def audit_actions(ledger: Ledger) -> dict[str, dict[str, object]]:
    with ledger.engine.connect() as conn:
        found = conn.execute(sa.text("SELECT action, detail FROM audit_log ORDER BY seq")).all()
    return {action: json.loads(detail) for action, detail in found}


def test_parquet_and_jsonl_batches_go_through_the_same_path(ledger: Ledger, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = people(ledger, 2)
    pq.write_table(pa.Table.from_pylist([row(ids[0], "TP-1")]), tmp_path / "a.parquet")
    (tmp_path / "b.jsonl").write_text(json.dumps(row(ids[1], "TP-2")) + "\n")
    assert submit(ledger, tmp_path / "a.parquet").accepted == 1
    assert submit(ledger, tmp_path / "b.jsonl").accepted == 1
    _ = dt


def test_the_same_file_submitted_twice_at_once_commits_once_and_both_get_the_outcome(
    ledger: Ledger, tmp_path: Path
) -> None:
    """On PostgreSQL both submissions write until one commits; the other's rows collide
    with the committed ones. It answers with the stored outcome, like a repeat, not with
    the database's constraint error (SQLite lets one writer at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    ids = people(ledger, 40)
    path = csv_file(tmp_path / "twice.csv", [row(n, f"TW-{i}") for i, n in enumerate(ids)])
    before = table_count(ledger, "audit_log")
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda _: submit(ledger, path), range(2)))
    assert sorted(o.repeated for o in outcomes) == [False, True]
    assert {(o.batch_id, o.status, o.accepted) for o in outcomes} == {
        (outcomes[0].batch_id, "committed", 40)
    }
    assert records_of_batch(ledger, outcomes[0].batch_id) == 40
    assert table_count(ledger, "audit_log") - before >= 1
    verify_chain(ledger.engine)


def test_a_batch_that_fails_half_way_leaves_no_thread_behind(
    ledger: Ledger, tmp_path: Path
) -> None:
    """A file that breaks after its first chunks were written (here: a row with more
    fields than the header) is refused with nothing written, and the writer's sealing
    thread ends with it (found by a review: it was left running)."""
    import threading

    from osmanthus.errors import ValidationError

    ids = people(ledger, 2)
    rows = [row(ids[i % 2], f"H-{i}") for i in range(150_000)]  # past the first blocks read
    path = csv_file(tmp_path / "b.csv", rows)
    with path.open("a", encoding="utf-8") as file:
        file.write("1,2,3,4,5,6,7,8,9\n")
    before = {t for t in threading.enumerate() if t.name.startswith("intake-seal")}
    with pytest.raises(ValidationError):
        submit(ledger, path, batch_id="H", chunk_rows=20_000)
    left = {t for t in threading.enumerate() if t.name.startswith("intake-seal")} - before
    assert not [t for t in left if t.is_alive()]
    assert records_of_batch(ledger, "H") == 0
