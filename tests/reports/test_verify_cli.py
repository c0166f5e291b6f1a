"""osmanthus verify and osmanthus signing-key through the CLI runner: offline checks of
reports and proofs, each failure one line naming the file and exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reports_fixtures import ALICE, BOB
from typer.testing import CliRunner

from factories import POLICY_DIR, write_key
from osmanthus.cli import app
from osmanthus.ledger import Actor, Ledger
from osmanthus.reports import (
    SigningKey,
    credit_report,
    demo_signing_key,
    issue_proof,
    read_signing_key,
)

runner = CliRunner()
RESIDENT = Actor("resident", "self")
ON = ["--on", "2026-11-05"]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the ledger only makes the documents; verifying is offline."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OSMANTHUS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OSMANTHUS_POLICY_DIR", str(POLICY_DIR))
    for name in ("DATABASE_URL", "DEMO_MODE", "PSEUDONYM_KEY", "SIGNING_KEY_FILE"):
        monkeypatch.delenv(f"OSMANTHUS_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def files(people: Ledger, city_key: SigningKey, tmp_path: Path) -> dict[str, str]:
    """A report (Bob's), a proof (Alice's) and the city's public key as PEM, in files."""
    report = credit_report(people, BOB, key=city_key, actor=RESIDENT, purpose="lease")
    (tmp_path / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    proof = issue_proof(
        people, ALICE, "civilization_loan", key=city_key, actor=RESIDENT, purpose="x"
    )
    (tmp_path / "proof.txt").write_text(proof + "\n")
    (tmp_path / "city.pub").write_text(city_key.public.pem())
    return {"report": "report.json", "proof": "proof.txt", "pem": "city.pub"}


def verify(*args: str) -> tuple[int, list[str]]:
    result = runner.invoke(
        app, [*args[:1], "verify", *args[1:]] if args[0] == "--demo" else ["verify", *args]
    )
    return result.exit_code, result.output.strip().splitlines()


def test_a_report_verifies_with_the_published_key(
    files: dict[str, str], city_key: SigningKey
) -> None:
    code, lines = verify(files["report"], "--public-key", files["pem"], *ON)
    assert code == 0, lines
    assert lines[0] == (
        f"OK: credit report signed by key {city_key.key_id}, valid 2026-11-01 to 2026-11-30"
    )
    assert lines[1] == "score 80, 1 record(s), as of 2026-11-01; issued 2026-11-01T09:00:00Z"
    assert lines[2].startswith("subject: not checked")
    code, lines = verify(
        files["report"], "--public-key", city_key.public.base64, "--national-id", BOB, *ON
    )
    assert code == 0 and lines[-1] == f"subject: matches {BOB[:4]}{'*' * 10}{BOB[-4:]}"


def test_a_proof_verifies_and_checks_the_id_card(
    files: dict[str, str], city_key: SigningKey
) -> None:
    code, lines = verify(files["proof"], "--public-key", files["pem"], "--national-id", ALICE, *ON)
    assert code == 0, lines
    assert lines == [
        f"OK: eligibility proof signed by key {city_key.key_id}, valid 2026-11-01 to 2026-11-07",
        "perk civilization_loan: eligible until 2026-11-07",
        "issued 2026-11-01T09:00:00Z",
        f"subject: matches {ALICE[:4]}{'*' * 10}{ALICE[-4:]}",
        "not checked offline: whether the proof was revoked since (a correction of the "
        "resident's records revokes it); the service's status list is "
        "GET /api/v1/proofs/revoked, and an online check (POST /api/v1/eligibility with "
        "the proof) consults it",
    ]


def failure(*args: str) -> str:
    code, lines = verify(*args)
    assert code == 1 and len(lines) == 1, lines
    return lines[0]


def test_each_failure_is_one_line_naming_the_file(
    files: dict[str, str], tmp_path: Path, env: Path
) -> None:
    key = ["--public-key", files["pem"]]
    tampered = tmp_path / "tampered.json"
    tampered.write_text(
        (tmp_path / "report.json").read_text().replace('"score": 80', '"score": 99')
    )
    assert failure(str(tampered), *key, *ON) == (
        f"error: {tampered}: the signature does not match: the document was altered or not "
        f"signed by key {read_signing_key(tmp_path / 'city-key.pem').key_id}"
    )
    assert failure(files["report"], *key, "--on", "2026-12-01") == (
        "error: report.json: expired: valid until 2026-11-30, today is 2026-12-01"
    )
    assert failure(files["proof"], *key, "--on", "2026-11-08").startswith(
        "error: proof.txt: expired: valid until 2026-11-07"
    )
    other = read_signing_key(write_key(tmp_path / "other.pem")).public.base64
    assert "error: proof.txt: signed by key" in failure(files["proof"], "--public-key", other, *ON)
    assert failure(files["proof"], *key, "--national-id", BOB, *ON) == (
        f"error: proof.txt: not issued to national ID {BOB[:4]}{'*' * 10}{BOB[-4:]}: the "
        "subject does not match"
    )
    (tmp_path / "junk.txt").write_text("hello")
    assert failure("junk.txt", *key) == (
        "error: junk.txt: neither a signed credit report (JSON) nor a proof token (OSM1.…)"
    )
    (tmp_path / "binary.bin").write_bytes(b"\xff\xfe\x00")
    assert failure("binary.bin", *key).startswith("error: binary.bin: not UTF-8 text")
    (tmp_path / "cut.txt").write_text((tmp_path / "proof.txt").read_text()[:40])
    assert failure("cut.txt", *key).startswith("error: cut.txt: malformed proof")
    (tmp_path / "list.json").write_text("[1, 2]")
    assert failure("list.json", *key).startswith("error: list.json: malformed document")
    assert failure("missing.json", *key) == "error: missing.json: no such file"
    assert failure(files["report"], *ON).startswith("error: --public-key: give the city's")
    for nonsense in ("nonsense", "A" * 5000):
        assert failure(files["report"], "--public-key", nonsense, *ON).startswith(
            "error: --public-key: expected the base64 of a 32-byte"
        )


def test_the_demo_key_is_trusted_only_with_demo(people: Ledger, tmp_path: Path, env: Path) -> None:
    demo = demo_signing_key()
    proof = issue_proof(people, ALICE, "civilization_loan", key=demo, actor=RESIDENT, purpose="x")
    (tmp_path / "demo-proof.txt").write_text(proof)
    code, lines = verify("--demo", "demo-proof.txt", *ON)
    assert code == 0 and lines[0].startswith(f"OK: eligibility proof signed by key {demo.key_id}")
    assert not (env / "var" / "demo-signing-key.pem").exists()  # verifying writes nothing
    assert failure("demo-proof.txt", "--public-key", demo.public.base64, *ON) == (
        f"error: --public-key: {demo.key_id} is the public demo key, trusted only with --demo"
    )


def test_signing_key_prints_the_public_key_to_publish(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = demo_signing_key()
    result = runner.invoke(app, ["--demo", "signing-key"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"key id: {demo.key_id}",
        f"public key: {demo.public.base64}",
    ]
    assert (env / "var" / "demo-signing-key.pem").exists()  # created on first use
    result = runner.invoke(app, ["--demo", "signing-key", "--pem"])
    assert result.output == demo.public.pem()
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", "p" * 40)
    result = runner.invoke(app, ["signing-key"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: settings: 'signing_key_file' is required outside demo mode (a PEM Ed25519 "
        "private key: set OSMANTHUS_SIGNING_KEY_FILE)"
    )
    city = read_signing_key(write_key(env / "city.pem"))
    monkeypatch.setenv("OSMANTHUS_SIGNING_KEY_FILE", str(env / "city.pem"))
    result = runner.invoke(app, ["signing-key"])
    assert result.exit_code == 0 and f"key id: {city.key_id}" in result.output
