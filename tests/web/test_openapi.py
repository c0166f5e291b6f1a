"""schemathesis against our own OpenAPI spec, on a real ``osmanthus serve`` process: for
every operation, generated requests (valid and invalid) as the role that may call it must
never get a 5xx, every status must be one the spec documents for the operation, and every
response must match the schema the spec documents. A 405 names the allowed methods."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from web_fixtures import token_in


@pytest.fixture(scope="module")
def resident_session(city: dict[str, str]) -> dict[str, str]:
    with httpx.Client(base_url=city["url"]) as client:
        client.post(
            "/signin",
            data={"national_id": city["resident_below"], "password": city["password"]},
        )
        token = token_in(client.get("/me/disputes").text)
        return {
            "Cookie": f"osmanthus_session={client.cookies['osmanthus_session']}",
            "X-CSRF-Token": token,
        }


def headers_for(path: str, city: dict[str, str], resident: dict[str, str]) -> dict[str, str]:
    """The credentials of the role that may call ``path``."""
    if path.startswith("/api/v1/me"):
        return resident
    if path.startswith(("/api/v1/batches", "/api/v1/records", "/api/v1/coverage")):
        return {"Authorization": f"Bearer {city['department_key']}"}
    if path.startswith(("/api/v1/eligibility", "/api/v1/rechecks")):
        return {"Authorization": f"Bearer {city['provider_key']}"}
    if path.startswith("/api/v1/disputes") and path.endswith("/review"):
        return {"Authorization": f"Bearer {city['reviewer_key']}"}
    if path.startswith("/api/v1/disputes"):
        return {"Authorization": f"Bearer {city['department_key']}"}
    return {"Authorization": f"Bearer {city['auditor_key']}"}


def test_no_server_error_and_every_response_matches_the_schema(
    city: dict[str, str], resident_session: dict[str, str]
) -> None:
    # schemathesis's pytest plugin does not run on pytest 9 yet (request.node._nodeid), so
    # each operation's hypothesis strategy is driven here directly.
    schema = schemathesis.openapi.from_url(f"{city['url']}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    tried = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=city["url"],
                headers=headers_for(case.path, city, resident_session),
                checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
            )

        check()
        tried.append(f"{operation.method.upper()} {operation.path}")
    assert "POST /api/v1/eligibility" in tried and "POST /api/v1/batches" in tried


def test_a_method_not_allowed_names_the_allowed_ones(city: dict[str, str]) -> None:
    answer = httpx.put(f"{city['url']}/api/v1/eligibility", json={})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.json()["ok"] is False


def test_every_api_operation_documents_its_error_answers(city: dict[str, str]) -> None:
    spec = httpx.get(f"{city['url']}/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            documented = set(operation["responses"])
            assert {"401", "403", "404", "422"} <= documented, (method, path)
            error = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorOut"}, (method, path)
    assert "413" in spec["paths"]["/api/v1/batches"]["post"]["responses"]
    assert "429" in spec["paths"]["/api/v1/eligibility"]["post"]["responses"]
