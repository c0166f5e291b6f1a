"""The department console and its JSON API (SQLite and PostgreSQL): a batch over HTTP
and its report, corrections and retractions, coverage, and one department never seeing
another's batches."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from osmanthus.ledger import Ledger
from osmanthus.settings import get_settings
from osmanthus.web import create_app, create_key
from web_fixtures import ALICE, BOB, sign_in_key

pytestmark = pytest.mark.usefixtures("people")


def batch_csv(ledger: Ledger, *rows: tuple[str, str, str]) -> bytes:
    day = (ledger.today() - dt.timedelta(days=3)).isoformat()
    lines = ["national_id,metric,act_date,decision_date,source_ref,value"]
    lines += [f"{number},{metric},{day},{day},{ref},1" for number, metric, ref in rows]
    return ("\n".join(lines) + "\n").encode()


def post(client: TestClient, key: str, body: bytes, **query: str) -> dict[str, object]:
    response = client.post(
        "/api/v1/batches",
        content=body,
        params=query,
        headers={"Authorization": f"Bearer {key}", "content-type": "text/csv"},
    )
    found: dict[str, object] = response.json()
    found["_status"] = response.status_code
    return found


def test_a_batch_over_http_is_checked_committed_and_reported(
    client: TestClient, ledger: Ledger, keys: dict[str, str]
) -> None:
    good = batch_csv(ledger, (ALICE, "failure_to_yield", "W-1"), (BOB, "running_red_light", "W-2"))
    done = post(client, keys["department"], good, batch_id="web-1")
    assert (done["_status"], done["status"], done["accepted"]) == (200, "committed", 2)
    again = post(client, keys["department"], good, batch_id="web-1")
    assert again["repeated"] is True and again["accepted"] == 2  # idempotent
    fetched = client.get(
        "/api/v1/batches/web-1", headers={"Authorization": f"Bearer {keys['department']}"}
    )
    assert fetched.json()["accepted"] == 2


def test_a_bad_row_refuses_the_batch_and_names_the_row(
    client: TestClient, ledger: Ledger, keys: dict[str, str]
) -> None:
    bad = batch_csv(ledger, (ALICE, "failure_to_yield", "X-1"), (ALICE, "no_such_metric", "X-2"))
    refused = post(client, keys["department"], bad, batch_id="web-2")
    assert (refused["status"], refused["accepted"]) == ("refused", 0)
    [problem] = refused["problems"]  # type: ignore[misc]
    assert (problem["row"], problem["field"]) == (2, "metric")
    partial = post(client, keys["department"], bad, batch_id="web-3", partial="true")
    assert (partial["status"], partial["accepted"]) == ("partial", 1)


def test_only_departments_submit_and_each_sees_only_its_own(
    client: TestClient, ledger: Ledger, keys: dict[str, str]
) -> None:
    body = batch_csv(ledger, (ALICE, "failure_to_yield", "Y-1"))
    assert post(client, keys["provider"], body)["_status"] == 403
    assert post(client, keys["department"], body, batch_id="mine")["_status"] == 200
    tax = create_key(ledger.engine, role="department", name="tax", department="tax")
    other = client.get("/api/v1/batches/mine", headers={"Authorization": f"Bearer {tax}"})
    assert other.status_code == 404
    wrong_type = client.post(
        "/api/v1/batches",
        content=b"{}",
        headers={"Authorization": f"Bearer {keys['department']}", "content-type": "text/plain"},
    )
    assert wrong_type.status_code == 422 and "content-type" in wrong_type.json()["error"]


def test_a_department_corrects_and_retracts_its_records(
    client: TestClient, ledger: Ledger, keys: dict[str, str]
) -> None:
    body = batch_csv(ledger, (ALICE, "failure_to_yield", "Z-1"), (ALICE, "failure_to_yield", "Z-2"))
    post(client, keys["department"], body)
    auth = {"Authorization": f"Bearer {keys['department']}"}
    corrected = client.post(
        "/api/v1/records/supersede",
        json={"source_ref": "Z-1", "new_source_ref": "Z-1c", "reason": "wrong date", "value": 1},
        headers=auth,
    )
    assert corrected.json()["kind"] == "correction", corrected.text
    retracted = client.post(
        "/api/v1/records/supersede",
        json={"source_ref": "Z-2", "new_source_ref": "Z-2r", "reason": "wrong person"},
        headers=auth,
    )
    assert retracted.json()["kind"] == "retraction"
    missing = client.post(
        "/api/v1/records/supersede",
        json={"source_ref": "nope", "new_source_ref": "n2", "reason": "none"},
        headers=auth,
    )
    assert missing.status_code in (404, 422) and missing.json()["ok"] is False


def test_the_console_page_uploads_a_file_and_shows_its_report(
    client: TestClient, ledger: Ledger, keys: dict[str, str]
) -> None:
    csrf = sign_in_key(client, keys["department"], "/console")
    body = batch_csv(ledger, (ALICE, "failure_to_yield", "P-1"), (ALICE, "bogus_metric", "P-2"))
    shown = client.post(
        "/console/batches",
        files={"file": ("week.csv", body, "text/csv")},
        data={"csrf": csrf, "batch_id": "page-1", "partial": "true"},
        headers={"accept-language": "en"},
    )
    assert shown.status_code == 200 and "/console/batches/page-1" in str(shown.url)
    assert 'data-testid="batch-accepted">1<' in shown.text and "bogus_metric" in shown.text
    forged = client.post(
        "/console/batches", files={"file": ("w.csv", body, "text/csv")}, data={"csrf": "forged"}
    )
    assert forged.status_code == 403


def test_coverage_shows_a_department_its_own_and_oversight_all(
    client: TestClient, ledger: Ledger, keys: dict[str, str]
) -> None:
    post(client, keys["department"], batch_csv(ledger, (ALICE, "failure_to_yield", "C-1")))
    own = client.get("/api/v1/coverage", headers={"Authorization": f"Bearer {keys['department']}"})
    assert [c["department"] for c in own.json()] == ["traffic-police"]
    assert own.json()[0]["batches"] == 1
    every = client.get("/api/v1/coverage", headers={"Authorization": f"Bearer {keys['auditor']}"})
    assert len(every.json()) == len(ledger.policy.latest.departments)
    assert any(c["batches"] == 0 for c in every.json())  # who never sent


def test_a_batch_file_over_the_size_limit_is_refused_and_nothing_is_stored(
    ledger: Ledger, keys: dict[str, str], tmp_path: Path
) -> None:
    settings = get_settings(
        demo_mode=True, data_dir=tmp_path, upkeep_process=False, upload_max_mb=1
    )
    row = batch_csv(ledger, (ALICE, "failure_to_yield", "BIG-1")).splitlines()[1] + b"\n"
    body = batch_csv(ledger) + row * (1_600_000 // len(row))  # 1.5 MiB
    with TestClient(create_app(settings, ledger)) as client:
        auth = {"Authorization": f"Bearer {keys['department']}"}
        by_api = post(client, keys["department"], body, batch_id="big-api")
        chunks = (body[n : n + 65536] for n in range(0, len(body), 65536))
        streamed = client.post(  # no Content-Length: counted as it arrives
            "/api/v1/batches",
            content=chunks,
            params={"batch_id": "big-stream"},
            headers={**auth, "content-type": "text/csv"},
        )
        csrf = sign_in_key(client, keys["department"], "/console")
        by_form = client.post(
            "/console/batches",
            files={"file": ("big.csv", body, "text/csv")},
            data={"csrf": csrf, "batch_id": "big-form"},
            headers={"accept": "application/json"},
        )
        for batch in ("big-api", "big-stream", "big-form"):
            assert client.get(f"/api/v1/batches/{batch}", headers=auth).status_code == 404
        near = post(client, keys["department"], batch_csv(ledger) + row * (900_000 // len(row)))
    assert "content-length" not in streamed.request.headers
    for refused in (by_api, streamed.json(), by_form.json()):
        assert refused["status"] == 413 and refused["ok"] is False
        assert refused["error"].startswith("body: larger than 1 MiB")  # type: ignore[union-attr]
    assert by_form.status_code == 413
    assert near["_status"] == 200  # 0.9 MiB with its Content-Length: under the limit


def test_the_size_limit_holds_behind_a_path_prefix(
    ledger: Ledger, keys: dict[str, str], tmp_path: Path
) -> None:
    """Served under a prefix (``root_path``, as behind a proxy), whether the path carries
    the prefix or not, a batch over the limit is still refused before it is stored."""
    settings = get_settings(
        demo_mode=True, data_dir=tmp_path, upkeep_process=False, upload_max_mb=1
    )
    body = batch_csv(ledger) + b"x" * 1_200_000
    auth = {"Authorization": f"Bearer {keys['department']}", "content-type": "text/csv"}
    with TestClient(create_app(settings, ledger), root_path="/osmanthus") as client:
        for path in ("/osmanthus/api/v1/batches", "/api/v1/batches"):
            refused = client.post(path, content=body, headers=auth, params={"batch_id": "pre"})
            assert refused.status_code == 413, path
            assert refused.json()["error"].startswith("body: larger than 1 MiB")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (gzip.compress(b"national_id\n" * 100, mtime=0), "found gzip-compressed data"),
        (b"x" * 200_000 + b"\n1\n", "header: longer than 65,536 bytes"),
        (",".join(f"c{i}" for i in range(5_000)).encode() + b"\n", "5,000 columns"),
        ("３４０１０２".encode() + b"\n", "missing column(s)"),
    ],
)
def test_bodies_that_once_crashed_the_service_answer_422_in_one_line(
    client: TestClient, keys: dict[str, str], body: bytes, expected: str
) -> None:
    found = post(client, keys["department"], body)
    assert found["_status"] == 422 and found["ok"] is False
    assert expected in str(found["error"]) and "\n" not in str(found["error"])
