"""Constants and helpers of the web tests (the fixtures are in tests/web/conftest.py)."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

import httpx2 as httpx
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


def wait_until_answering(
    url: str, server: subprocess.Popen[Any] | None = None, seconds: float = 30, **options: Any
) -> httpx.Response:
    """The first answer of ``url`` (a server starting): asked every 50 ms through one
    client (``httpx.get`` builds a TLS context each time, 60 ms of CPU, which a starting
    server then waits for); fails when ``server`` exits or no answer came in time."""
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=1, **options) as client:
        while time.monotonic() < deadline:
            if server is not None and server.poll() is not None:
                raise AssertionError(f"{url}: the server exited ({server.returncode})")
            try:
                return client.get(url)
            except httpx.TransportError:
                time.sleep(0.05)
    raise AssertionError(f"{url} never answered in {seconds:.0f} s")


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
