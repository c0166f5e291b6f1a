"""Constants and helpers of the web tests (the fixtures are in tests/web/conftest.py)."""

from __future__ import annotations

import socket

from fastapi.testclient import TestClient

from factories import make_id

ALICE = make_id(sequence=1)
BOB = make_id(sequence=2)
PASSWORD = "correct horse battery"
MARKER = 'name="csrf" value="'


def free_port() -> int:
    """A TCP port free on this machine now (for a real server process)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token_in(page: str) -> str:
    """The CSRF token of a page's forms."""
    return page[page.index(MARKER) + len(MARKER) :].split('"', 1)[0]


def sign_in(client: TestClient, national_id: str = ALICE, *, kiosk: bool = False) -> str:
    """Sign a resident in (a session cookie on ``client``); return the CSRF token."""
    response = client.post(
        "/signin",
        data={"national_id": national_id, "password": PASSWORD, "kiosk": str(kiosk).lower()},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return token_in(client.get("/me/disputes").text)


def sign_in_key(client: TestClient, key: str, home: str) -> str:
    """Open a staff browser session with a key; return the CSRF token of ``home``."""
    response = client.post("/signin/key", data={"key": key}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return token_in(client.get(home).text)
