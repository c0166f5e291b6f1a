"""Security headers on every answer: a CSP without inline script that no page may frame,
nosniff, no referrer, no-store on everything personal (static assets may be cached),
HSTS outside demo mode; and /docs served from our own assets, never a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from osmanthus.web.headers import SecurityHeaders
from web_fixtures import sign_in

pytestmark = pytest.mark.usefixtures("people")


def test_every_answer_carries_the_headers(client: TestClient) -> None:
    sign_in(client)
    for path in ("/me", "/api/v1/me", "/me/report.json", "/me/notices", "/signin", "/health"):
        response = client.get(path)
        assert response.status_code == 200, path
        headers = response.headers
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy, path
        assert "unsafe-inline" not in policy, path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store", path
        assert "strict-transport-security" not in headers  # the demo serves plain HTTP
    missing = client.get("/me/records/999999")
    assert missing.status_code == 404 and missing.headers["cache-control"] == "no-store"
    asset = client.get("/static/app.js")
    assert asset.status_code == 200 and asset.headers.get("cache-control") != "no-store"


def test_no_page_has_an_inline_script_or_handler(client: TestClient) -> None:
    sign_in(client)
    for path in ("/me", "/me/report", "/me/disputes", "/me/notices", "/me/calendar", "/signin"):
        page = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"\son[a-z]+=", page), path


def test_hsts_outside_demo_mode() -> None:
    app = FastAPI()

    @app.get("/x")
    def x() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(SecurityHeaders, hsts=True)
    with TestClient(app) as client:
        hsts = client.get("/x").headers["strict-transport-security"]
    assert hsts.startswith("max-age=31536000")


def test_the_api_docs_come_from_our_own_server(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert not re.search(r"(src|href)=\"(https?:)?//", docs.text)  # no CDN
    # named relative to /docs, so that they are found under a proxy's path prefix too
    assert 'src="static/vendor/swagger-ui-bundle.js"' in docs.text
    assert client.get("/static/vendor/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/vendor/swagger-ui.css").status_code == 200
    assert "'unsafe-inline'" in docs.headers["content-security-policy"]  # styles only
    assert "script-src 'self';" in docs.headers["content-security-policy"]
