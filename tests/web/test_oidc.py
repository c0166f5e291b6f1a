"""Residents sign in through an OpenID Connect provider (a real one over HTTP, in
tests/oidc_provider.py): the code flow with PKCE, the ID token verified against the
provider's keys, and every way it must refuse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider, running_provider
from osmanthus.ledger import Ledger
from osmanthus.settings import get_settings
from osmanthus.web import create_app
from web_fixtures import ALICE, BOB

pytestmark = [
    pytest.mark.usefixtures("people"),
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with running_provider() as found:
        yield found


@pytest.fixture
def oidc_client(ledger: Ledger, tmp_path: Path, provider: OidcProvider) -> Iterator[TestClient]:
    settings = get_settings(
        demo_mode=True,
        data_dir=tmp_path,
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        upkeep_process=False,
    )
    with TestClient(create_app(settings, ledger)) as client:
        yield client


def sign_in_through(client: TestClient, provider: OidcProvider, claims: dict[str, str]) -> int:
    """Follow the flow as a browser would: us → provider → back to us. The status of the
    callback's answer."""
    provider.user = claims
    start = client.get("/signin/oidc", follow_redirects=False)
    assert start.status_code == 303 and start.headers["location"].startswith(provider.issuer)
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    back = urlparse(at_provider.headers["location"])
    assert back.path == "/signin/oidc/callback"
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    return client.get("/signin/oidc/callback", params=query, follow_redirects=False).status_code


def test_a_resident_signs_in_through_the_provider(
    oidc_client: TestClient, provider: OidcProvider
) -> None:
    assert 'data-testid="oidc-signin"' in oidc_client.get("/signin").text
    assert sign_in_through(oidc_client, provider, {"national_id": BOB}) == 303
    me = oidc_client.get("/api/v1/me").json()
    assert me["ok"] and me["score"] < 100  # Bob's drunk driving
    access = oidc_client.get("/api/v1/me/access").json()
    assert any(a["purpose"] == "portal sign-in (OpenID Connect)" for a in access)


def test_refused_without_a_registered_number_a_good_signature_or_a_matching_state(
    oidc_client: TestClient, provider: OidcProvider
) -> None:
    assert sign_in_through(oidc_client, provider, {"national_id": "110101199003070000"}) == 401
    assert sign_in_through(oidc_client, provider, {"name": "no number"}) == 401
    provider.tamper = True
    assert sign_in_through(oidc_client, provider, {"national_id": ALICE}) == 401
    provider.tamper = False
    assert oidc_client.get("/api/v1/me").status_code == 401
    forged = oidc_client.get(
        "/signin/oidc/callback", params={"code": "x", "state": "y"}, follow_redirects=False
    )
    assert forged.status_code == 401


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": "another-client"}, id="audience"),
        pytest.param({"iss": "http://127.0.0.1:9/elsewhere"}, id="issuer"),
        pytest.param({"exp": 1_000_000_000}, id="expired"),
        pytest.param({"nonce": "not-the-one-sent"}, id="nonce"),
    ],
)
def test_a_token_for_someone_else_or_out_of_date_is_refused(
    oidc_client: TestClient, provider: OidcProvider, claims: dict[str, object]
) -> None:
    provider.overrides = claims
    assert sign_in_through(oidc_client, provider, {"national_id": ALICE}) == 401
    assert oidc_client.get("/api/v1/me").status_code == 401
    provider.overrides = {}
    assert sign_in_through(oidc_client, provider, {"national_id": ALICE}) == 303


def test_new_keys_are_fetched_when_the_provider_rotates_them(
    oidc_client: TestClient, provider: OidcProvider
) -> None:
    assert sign_in_through(oidc_client, provider, {"national_id": ALICE}) == 303
    oidc_client.post("/signout", data={"csrf": oidc_client.cookies.get("csrf", "")})
    provider.rotate_key()
    assert sign_in_through(oidc_client, provider, {"national_id": BOB}) == 303
    assert oidc_client.get("/api/v1/me").json()["score"] < 100  # Bob's


def test_a_provider_that_does_not_answer_is_one_clear_refusal(
    ledger: Ledger, tmp_path: Path
) -> None:
    with running_provider() as gone:
        issuer = gone.issuer
    settings = get_settings(
        demo_mode=True,
        data_dir=tmp_path,
        oidc_issuer=issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        upkeep_process=False,
    )
    with TestClient(create_app(settings, ledger)) as client:
        answer = client.get("/signin/oidc", follow_redirects=False)
    assert answer.status_code == 401
    assert "did not answer" in answer.text


def test_without_settings_there_is_no_provider_sign_in(client: TestClient) -> None:
    assert client.get("/signin/oidc", follow_redirects=False).status_code == 404
    assert "oidc-signin" not in client.get("/signin").text
