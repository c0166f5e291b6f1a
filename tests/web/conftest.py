"""Fixtures of the web tests: the app on a real ledger (SQLite and PostgreSQL), residents
with records, a key for every staff role, and a small demo city served by a real
``osmanthus serve`` process (one per test module)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from factories import OPERATOR, POLICY_DIR
from osmanthus.ledger import Ledger, NewRecord
from osmanthus.residents import set_password
from osmanthus.settings import get_settings
from osmanthus.web import create_app, create_key
from web_fixtures import ALICE, BOB, PASSWORD, free_port, wait_until_answering


@pytest.fixture
def client(ledger: Ledger, tmp_path: Path) -> Iterator[TestClient]:
    settings = get_settings(demo_mode=True, data_dir=tmp_path, upkeep_process=False)
    with TestClient(create_app(settings, ledger)) as test_client:
        yield test_client


@pytest.fixture
def people(ledger: Ledger, make_record: Callable[..., NewRecord]) -> dict[str, int]:
    """Alice (no records, at the baseline) and Bob (drunk driving: 100 - 30 points);
    both have portal passwords. Returns the id of Bob's record."""
    ledger.register_resident(ALICE, "gusu", actor=OPERATOR)
    ledger.register_resident(BOB, "gusu", actor=OPERATOR)
    day = ledger.today() - dt.timedelta(days=30)
    bob_record = ledger.append_record(
        make_record(national_id=BOB, metric="drunk_driving", act_date=day, decision_date=day),
        actor=OPERATOR,
    )
    set_password(ledger, ALICE, PASSWORD, actor=OPERATOR)
    set_password(ledger, BOB, PASSWORD, actor=OPERATOR)
    return {"bob_record": bob_record}


@pytest.fixture
def keys(ledger: Ledger) -> dict[str, str]:
    """One API key per staff role (the department key speaks for traffic-police)."""
    return {
        "department": create_key(
            ledger.engine, role="department", name="traffic", department="traffic-police"
        ),
        "provider": create_key(
            ledger.engine,
            role="provider",
            name="Bank of Suzhou",
            perks=list(ledger.policy.latest.perks),
        ),
        "operator": create_key(ledger.engine, role="operator", name="credit office"),
        "auditor": create_key(ledger.engine, role="auditor", name="legal office"),
        "policy-approver": create_key(ledger.engine, role="policy-approver", name="board"),
        "reviewer": create_key(ledger.engine, role="reviewer", name="ombudsman"),
    }


CLI = [sys.executable, "-m", "osmanthus"]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A 2,000-resident demo city served by a real ``osmanthus serve`` process."""
    home = tmp_path_factory.mktemp("city")
    policy = home / "policy"
    shutil.copytree(POLICY_DIR, policy)
    env = {
        **os.environ,
        "OSMANTHUS_DATA_DIR": str(home),
        "OSMANTHUS_DEMO_MODE": "true",
        "OSMANTHUS_POLICY_DIR": str(policy),
    }
    env.pop("OSMANTHUS_DATABASE_URL", None)
    subprocess.run(
        [*CLI, "demo", "--residents", "2000", "--no-serve"],
        env=env,
        check=True,
        capture_output=True,
    )
    # the city's authors then add a version to the folder: it scores nothing until a
    # proposal of it is approved (the browser test of the policy console does so)
    effective = dt.date.today() + dt.timedelta(days=40)
    text = (policy / "2020-01-01.toml").read_text(encoding="utf-8")
    text = text.replace("effective = 2020-01-01\n", f"effective = {effective}\n", 1)
    text = text.replace('version = "2026.1"', 'version = "2027.1"')
    text = text.replace("min_score = 110", "min_score = 105", 1)
    (policy / f"{effective}.toml").write_text(text, encoding="utf-8")
    signins: dict[str, str] = json.loads((home / "demo-signins.json").read_text())
    port = free_port()
    log = (home / "serve.log").open("wb")
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/health", server)
        yield {**signins, "url": url, "home": str(home)}
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
