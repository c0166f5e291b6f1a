"""``osmanthus serve`` as a real process: it answers, logs one JSON line per request, and
refuses to start on a ledger that is not set up; ``osmanthus keys`` creates and revokes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from web_fixtures import free_port, wait_until_answering

CLI = [sys.executable, "-m", "osmanthus"]


@contextlib.contextmanager
def serving(env: dict[str, str], *args: str) -> Iterator[str]:
    """``osmanthus serve`` (``args``: more options) on a free port, once it answers; its
    base URL. Stopped with SIGINT afterwards."""
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/health", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "OSMANTHUS_DATA_DIR": str(tmp_path), "OSMANTHUS_DEMO_MODE": "true"}
    env.pop("OSMANTHUS_DATABASE_URL", None)
    return env


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_and_logs_json_lines(home: dict[str, str], workers: int) -> None:
    """Every worker logs its requests (with two workers there was no log at all) and
    ``/metrics`` adds up the workers' counts, whichever worker answers the scrape."""
    subprocess.run([*CLI, "init"], env=home, check=True, capture_output=True)
    key = subprocess.run(
        [
            *CLI,
            "keys",
            "create",
            "--role",
            "provider",
            "--name",
            "bank",
            "--perk",
            "civilization_loan",
        ],
        env=home,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert key.startswith("osm_")
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", str(workers)],
        env=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = wait_until_answering(f"http://127.0.0.1:{port}/health", server)
        assert health.json() == {"ok": True, "status": "alive"}
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/eligibility",
            json={"national_id": "320508198703150014", "perk": "x", "purpose": "p"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 404  # no such perk, in the envelope
        for _ in range(19):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        for _ in range(4):  # each scrape (from either worker) counts all 20
            scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            counted = re.search(
                r'^osmanthus_http_requests_total\{[^}]*route="/health"[^}]*\} ([\d.]+)$',
                scraped,
                re.M,
            )
            assert counted and float(counted.group(1)) == 20.0, scraped
            assert "osmanthus_notice_backlog 0.0" in scraped
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    routes = [(e["route"], e["status"]) for e in lines]
    assert routes.count(("/health", 200)) == 20, output
    revoked = subprocess.run([*CLI, "keys", "revoke", key], env=home, capture_output=True)
    assert revoked.returncode == 0


def test_serve_refuses_a_ledger_that_is_not_set_up(home: dict[str, str]) -> None:
    result = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        env=home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "not initialised" in result.stderr


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_forwarded_addresses_count_only_from_a_trusted_proxy(
    home: dict[str, str], trusted: str
) -> None:
    """A client that names its own address in X-Forwarded-For does not escape the sign-in
    throttle (by default no proxy is believed, uvicorn's own default believes 127.0.0.1);
    behind a proxy the settings name, each forwarded client counts apart."""
    env = {
        **home,
        "OSMANTHUS_SIGNIN_REFUSALS_PER_ADDRESS": "2",
        "OSMANTHUS_TRUSTED_PROXIES": trusted,
    }
    subprocess.run([*CLI, "init"], env=env, check=True, capture_output=True)
    with serving(env) as url:
        codes = [
            httpx.post(
                f"{url}/signin",
                data={"national_id": "320508198703150014", "password": "wrong password"},
                headers={"X-Forwarded-For": f"203.0.113.{k}"},
                timeout=5,
            ).status_code
            for k in range(1, 5)
        ]
    if trusted:
        assert 429 not in codes, codes  # four clients, one refusal each
    else:
        assert codes[-1] == 429, codes  # one client (127.0.0.1), whatever it claims


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_refuses_an_unreadable_signing_key_in_one_line(
    home: dict[str, str], tmp_path: Path, workers: str
) -> None:
    """Found walking through docs/deployment.md: with two workers each worker died on the
    key at start-up and uvicorn's supervisor started it again, forever, serving nothing."""
    env = {
        **home,
        "OSMANTHUS_DEMO_MODE": "false",
        "OSMANTHUS_PSEUDONYM_KEY": "deployment-key-0123456789abcdef0123456789",
        "OSMANTHUS_SIGNING_KEY_FILE": str(tmp_path / "missing.pem"),
    }
    subprocess.run([*CLI, "init"], env=env, check=True, capture_output=True)
    result = subprocess.run(
        [*CLI, "serve", "--port", str(free_port()), "--workers", workers],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: settings: 'signing_key_file' {tmp_path / 'missing.pem'}: cannot be read "
        "(No such file or directory)"
    ]


def test_the_sign_in_throttle_counts_every_worker_together(home: dict[str, str]) -> None:
    """With two workers an address gets the limit, not twice it (the counts are in the
    ledger database, not in each worker's memory)."""
    env = {**home, "OSMANTHUS_SIGNIN_REFUSALS_PER_ADDRESS": "3"}
    subprocess.run([*CLI, "init"], env=env, check=True, capture_output=True)
    with serving(env, "--workers", "2") as url:
        codes = [
            httpx.post(  # a new connection each time: either worker may answer
                f"{url}/signin",
                data={"national_id": "320508198703150014", "password": "wrong password"},
                timeout=5,
            ).status_code
            for _ in range(12)
        ]
    assert codes[:3] == [401, 401, 401] and set(codes[3:]) == {429}, codes
