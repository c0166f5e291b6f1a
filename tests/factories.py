"""Test helpers shared by every test module: factories, a fixed clock, constants."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from osmanthus.identity import check_character
from osmanthus.ledger import Actor, Ledger
from osmanthus.scoring import Explanation, explain

ROOT = Path(__file__).resolve().parents[1]
POLICY_DIR = ROOT / "policies" / "suzhou-example"
TEST_KEY = b"test-pseudonym-key-0123456789abcdef"
PG_URL = os.environ.get(
    "OSMANTHUS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TODAY = dt.date(2026, 11, 1)
OPERATOR = Actor("operator", "test")


def example_policy(tmp_path: Path, name: str = "suzhou-example") -> Path:
    """The example policy ``name``'s files without its tests (an empty ``tests/``), in a
    folder of the test's own."""
    folder = tmp_path / name
    (folder / "tests").mkdir(parents=True)
    for path in (ROOT / "policies" / name).glob("*.toml"):
        shutil.copy(path, folder)
    return folder


def make_id(area: int = 320508, born: str = "19870315", sequence: int = 1) -> str:
    """A valid national ID number with the right check character."""
    body = f"{area:06d}{born}{sequence:03d}"
    return body + check_character(body)


class FixedClock:
    """A clock that stands still until moved."""

    def __init__(self, day: dt.date = TODAY) -> None:
        self.now = dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def table_count(ledger: Ledger, table: str) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def tamper(ledger: Ledger, *statements: str) -> None:
    """Run SQL as an attacker holding the database would: with the append-only guards
    out of the way (SQLite: the triggers dropped; PostgreSQL: triggers skipped for the
    session, which the superuser test role may do)."""
    with ledger.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            guards = conn.execute(
                sa.text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                    "AND (name LIKE '%_no_%' OR name LIKE '%_erasure_only')"
                )
            ).scalars()
            for name in list(guards):
                conn.execute(sa.text(f"DROP TRIGGER {name}"))
        else:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            conn.execute(sa.text(statement))


def approve_policy(
    ledger: Ledger, folder: Path = POLICY_DIR, population_dir: Path | None = None
) -> int:
    """Put ``folder`` through the approval path as a city would (an author proposes, two
    policy-approvers approve) and hand the approved policy to ``ledger``; return the
    proposal's id. For tests that need a ledger with an approved policy."""
    import tempfile

    from osmanthus.governance import approve, approved_policy, propose
    from osmanthus.web.access import authenticate, create_key

    author, first, second = (
        authenticate(ledger.engine, create_key(ledger.engine, role=role, name=name))
        for role, name in (
            ("operator", "author"),
            ("policy-approver", "first approver"),
            ("policy-approver", "second approver"),
        )
    )
    with tempfile.TemporaryDirectory() as scratch:
        found = propose(
            ledger, folder, actor=author.identity, population_dir=population_dir or Path(scratch)
        )
    assert found.validation["ok"], found.validation
    for approver in (first, second)[: found.required]:
        approve(ledger, found.id, actor=approver.identity, role=approver.role)
    policy = approved_policy(ledger.engine)
    assert policy is not None
    ledger.use_policy(policy)
    return found.id


def explained(
    ledger: Ledger, pseudonym: str, as_of: dt.date, known_at: dt.datetime | None = None
) -> Explanation:
    """The reference scorer's explanation of a resident as the ledger holds them (an
    audited read by the test operator)."""
    resident, rows = ledger.read_pseudonym(
        pseudonym, actor=OPERATOR, purpose="test", known_at=known_at
    )
    return explain(rows, ledger.policy, as_of, known_at=known_at, subject=resident.subject)


#: Every perk of the example policy: a provider key bound to them all (tests that are
#: not about the binding).
PERKS = ["civilization_loan", "transit_discount", "library_extended_loans", "hospital_priority"]


def write_key(path: Path) -> Path:
    """A new Ed25519 private key as unencrypted PKCS#8 PEM at ``path``."""
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path
