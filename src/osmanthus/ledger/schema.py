"""The ledger's tables (SQLAlchemy Core). Alembic migrations create them; this module is
the single description the code reads and writes through.

- ``residents``: a keyed-hash pseudonym of the national ID number (never the number),
  district and birth year.
- ``departments``: the bodies that report records.
- ``records``: append-only conduct records; a correction or retraction is a new row that
  points at the row it replaces (``supersedes_id``).
- ``profile_facts``: dated facts a rule needs (a licence issue date as a cycle anchor, the
  date residence began); append-only, the newest known fact of an attribute wins.
- ``batches``: every intake batch a department submitted, with its outcome. Resubmitting
  the same file under the same batch id returns the first outcome; a batch id that was
  committed cannot be reused for another file.
- ``batch_problems``: the row-level report of a batch (refused rows, flagged rows).
- ``resident_credentials``: a resident's portal password, as a scrypt hash only.
- ``disputes``: a resident's dispute of one record, or application for its early repair
  (``kind``, migration 0012): its state and current deadline (current-state);
  ``dispute_events``: every step of it (filed, answered, extended, appealed, reviewed,
  suspended, escalated), append-only (migration 0010).
- ``suspensions``: a record set aside from a date because a dispute of it was not
  answered in time (``lifted = false``), or counting again from a date (``lifted =
  true``); append-only, so ``--as-of/--known-at`` reproduce every suspension.
- ``resident_contacts``: the e-mail address (and language) a resident gave for notices
  (current-state); ``notices``: every notice to a resident (what happened, as facts; the
  texts are rendered in the reader's language), append-only (migration 0011);
  ``notice_deliveries``: the outbox, one row per notice to send by e-mail, written in the
  same transaction as the notice; ``notice_cursors``: how far the notice relay has read
  the records (operational state, like ``record_counts``).
- ``rechecks``: a provider's earlier eligibility checks (the audit entry's number and
  the perk) whose answer may have changed since, because the resident's records were
  corrected or set aside (derived, like ``record_counts``); ``issued_proofs``: every
  signed eligibility proof issued (its random salt names it), and ``proof_revocations``:
  those revoked by a later correction, append-only: the status list online checks read.
- ``retention_checks``: for each resident the retention pass scored, the first day one of
  their records may be past retention, and when and under which policy it looked
  (derived: the pass scores a resident again only when that day comes or their rows
  changed since; migration 0014).
- ``signin_attempts``: sign-in attempts per client address (a keyed hash of it) in the
  last 15 minutes, so that every web worker counts them together (operational state,
  migration 0020; :mod:`osmanthus.ledger.signin_attempts`).
- ``web_sessions``: the browser sessions the web service opened (the SHA-256 of each
  session's token, never the token; whose it is; when it opened and ended), so that
  signing out ends a session for good: a copy of the old cookie is refused (operational
  state, migration 0017).
- ``record_counts``: original records per department and metric, kept by a trigger on
  ``records`` (migration 0007; :mod:`osmanthus.ledger.record_counts`), so that coverage
  never counts the whole ledger. On PostgreSQL a pair may have several rows (one per
  writing statement, folded later); its count is their sum.
- ``audit_log``: the hash-chained log of every write and every read of personal data.
- ``audit_checkpoints``: signed checkpoints of the chain (an entry's number and hash),
  written by ``osmanthus audit checkpoint`` and on the service's schedule.
- ``audit_archives``: the closed months of the chain exported to files and detached
  from ``audit_log`` (their first and last entry, the last one's hash and a signed
  checkpoint of it; migration 0019, :mod:`osmanthus.ledger.archive`). Append-only; the
  database lets an entry of ``audit_log`` be deleted only when an archive covers it.
- ``audit_subjects``, ``audit_indexed``: which entries are about whom (a key of the
  subject and the entry's ``seq``), filled in bulk after the entries are written, up to
  ``audit_indexed.upto`` (:mod:`osmanthus.ledger.audit_subjects`), so that a resident can
  see who read their data without every append writing a leaf of a subject index.
- ``policy_proposals``: every proposed policy bundle (its version files, charter,
  registry and authors' tests), content-hashed, with its validation and impact report;
  ``policy_decisions``: each approval or rejection of one, by whom. The policy the
  service scores with is the newest approved bundle (:mod:`osmanthus.governance`).
  Both append-only (migration 0009).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "RECORD_KINDS",
    "UtcDateTime",
    "api_keys",
    "audit_archives",
    "audit_checkpoints",
    "audit_indexed",
    "audit_log",
    "audit_subjects",
    "batch_problems",
    "batches",
    "departments",
    "dispute_events",
    "disputes",
    "issued_proofs",
    "metadata",
    "notice_cursors",
    "notice_deliveries",
    "notices",
    "policy_decisions",
    "policy_proposals",
    "profile_facts",
    "proof_revocations",
    "rechecks",
    "record_counts",
    "records",
    "resident_contacts",
    "residents",
    "retention_checks",
    "signin_attempts",
    "suspensions",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: A 64-bit key on PostgreSQL, SQLite's rowid alias on SQLite.
Key = BigInteger().with_variant(Integer(), "sqlite")

#: Kinds of record rows: the first report, a correction with a new value, a retraction,
#: and a repair (an early-repair application granted: it ends the record it points at
#: on its act date, the grant date, and replaces nothing).
RECORD_KINDS = ("original", "correction", "retraction", "repair")


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"expected a timezone-aware datetime, found {value!r}")
        utc: dt.datetime = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


residents = Table(
    "residents",
    metadata,
    Column("id", Key, primary_key=True),
    Column("pseudonym", String(64), nullable=False, unique=True),
    Column("district", String(32), nullable=False),
    Column("birth_year", SmallInteger, nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
)

departments = Table(
    "departments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("name_zh", String(200)),
    Column("registered_at", UtcDateTime, nullable=False),
)

records = Table(
    "records",
    metadata,
    Column("id", Key, primary_key=True),
    Column("resident_id", Key, ForeignKey("residents.id"), nullable=False),
    Column("department_id", Integer, ForeignKey("departments.id"), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("value", Float, nullable=False),
    Column("act_date", Date, nullable=False),
    Column("decision_date", Date, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("source_ref", String(128), nullable=False),
    Column("incident_ref", String(128)),
    Column("kind", String(16), nullable=False),
    Column("supersedes_id", Key, ForeignKey("records.id")),
    Column("reason", Text),
    Column("batch_id", String(64)),
    Column("severity", String(32)),
    UniqueConstraint("department_id", "source_ref"),
    Index(None, "resident_id"),
    # partial (WHERE incident_ref IS NOT NULL) as migration 0003 creates it; the
    # condition is not repeated here: a PostgreSQL option in the table definition loads
    # SQLAlchemy's PostgreSQL dialect (about 20 ms) into every command, SQLite or not
    Index(None, "incident_ref"),
)

retention_checks = Table(
    "retention_checks",
    metadata,
    Column("resident_id", Key, ForeignKey("residents.id"), primary_key=True),
    Column("next_due", Date),  # the first day a record of theirs may be past retention
    Column("checked_at", UtcDateTime, nullable=False),
    Column("policy", String(32), nullable=False),  # the policy the check was made under
)

record_counts = Table(
    "record_counts",
    metadata,
    Column("id", Key, primary_key=True),
    Column("department_id", Integer, ForeignKey("departments.id"), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("records", BigInteger, nullable=False),
    Index(None, "department_id", "metric"),
)

batches = Table(
    "batches",
    metadata,
    Column("id", Key, primary_key=True),
    Column("department_id", Integer, ForeignKey("departments.id"), nullable=False),
    Column("batch_id", String(64), nullable=False),
    Column("file_name", String(256), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("format", String(16), nullable=False),
    Column("partial", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("accepted", BigInteger, nullable=False),
    Column("refused", BigInteger, nullable=False),
    Column("flagged", BigInteger, nullable=False),
    Column("metrics", Text, nullable=False),  # JSON: rows accepted per metric
    Column("actor", String(128), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    UniqueConstraint("department_id", "batch_id", "file_sha256"),
)

batch_problems = Table(
    "batch_problems",
    metadata,
    Column("id", Key, primary_key=True),
    Column("batch", Key, ForeignKey("batches.id"), nullable=False),
    Column("row", BigInteger, nullable=False),
    Column("field", String(32), nullable=False),
    Column("value", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("level", String(16), nullable=False),  # refused | flagged
    Index(None, "batch"),
)

profile_facts = Table(
    "profile_facts",
    metadata,
    Column("id", Key, primary_key=True),
    Column("resident_id", Key, ForeignKey("residents.id"), nullable=False),
    Column("attribute", String(64), nullable=False),
    Column("value", Date, nullable=False),
    Column("department_id", Integer, ForeignKey("departments.id"), nullable=False),
    Column("source_ref", String(128), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    UniqueConstraint("department_id", "source_ref"),
    Index(None, "resident_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),  # SHA-256; never the key
    Column("role", String(16), nullable=False),
    Column("name", String(128), nullable=False),
    Column("department", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("perks", String(1024)),  # a provider key's perks, comma-separated
)

resident_credentials = Table(
    "resident_credentials",
    metadata,
    Column("resident_id", Key, ForeignKey("residents.id"), primary_key=True),
    Column("password_hash", String(255), nullable=False),  # scrypt; never the password
    Column("created_at", UtcDateTime, nullable=False),
)

disputes = Table(
    "disputes",
    metadata,
    Column("id", Key, primary_key=True),
    Column("record_id", Key, ForeignKey("records.id")),  # a dispute of a record
    Column("profile_fact_id", Key, ForeignKey("profile_facts.id")),  # or of a profile fact
    Column("resident_id", Key, ForeignKey("residents.id"), nullable=False),
    Column("department_id", Integer, ForeignKey("departments.id"), nullable=False),
    Column("reason", Text, nullable=False),
    # open | upheld | rejected | appealed | confirmed | overturned | closed
    Column("status", String(16), nullable=False),
    Column("filed_at", UtcDateTime, nullable=False),
    Column("deadline", Date, nullable=False),  # of the step awaited (answer, appeal, review)
    # what is asked: "record" (the record is wrong), "repair" (end it early: credit
    # repair; migration 0012) or "profile" (a profile fact is wrong; migration 0015)
    Column("kind", String(16), nullable=False, server_default="record"),
    Column("evidence_ref", String(200)),  # a repair application's evidence reference
    Index(None, "resident_id"),
    Index(None, "status", "deadline"),
)

dispute_events = Table(
    "dispute_events",
    metadata,
    Column("id", Key, primary_key=True),
    Column("dispute_id", Key, ForeignKey("disputes.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text),
    Column("at", UtcDateTime, nullable=False),
    Column("due", Date),  # the deadline this step set, if any
    Column("record_id", Key, ForeignKey("records.id")),  # a correction or retraction it wrote
    Index(None, "dispute_id"),
)

suspensions = Table(
    "suspensions",
    metadata,
    Column("id", Key, primary_key=True),
    Column("record_id", Key, ForeignKey("records.id"), nullable=False),
    Column("resident_id", Key, ForeignKey("residents.id"), nullable=False),
    Column("dispute_id", Key, ForeignKey("disputes.id"), nullable=False),
    Column("starts", Date, nullable=False),  # suspended (or counting again) from this day
    Column("lifted", Boolean, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index(None, "resident_id"),
)

resident_contacts = Table(
    "resident_contacts",
    metadata,
    Column("resident_id", Key, ForeignKey("residents.id"), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("language", String(8), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

notices = Table(
    "notices",
    metadata,
    Column("id", Key, primary_key=True),
    Column("resident_id", Key, ForeignKey("residents.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("key", String(96), nullable=False, unique=True),  # one notice per event
    Column("payload", Text, nullable=False),  # JSON: the facts; texts are rendered on reading
    Column("created_at", UtcDateTime, nullable=False),
    Column("not_before", Date),  # held until this day (a record's expiry)
    Index(None, "resident_id"),
)

notice_deliveries = Table(
    "notice_deliveries",
    metadata,
    Column("notice_id", Key, ForeignKey("notices.id"), primary_key=True),
    Column("address", String(254), nullable=False),
    Column("language", String(8), nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed | withdrawn
    Column("attempts", SmallInteger, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("last_error", String(256)),
    Index(None, "status", "next_attempt_at"),
)

notice_cursors = Table(
    "notice_cursors",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("upto", Key, nullable=False),
)

rechecks = Table(
    "rechecks",
    metadata,
    Column("id", Key, primary_key=True),
    Column("provider", String(128), nullable=False),  # the checking actor, as audited
    Column("check_seq", Key, nullable=False),  # the check's audit entry
    Column("perk", String(64)),
    Column("reason", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "provider", "id"),
)

issued_proofs = Table(
    "issued_proofs",
    metadata,
    Column("id", Key, primary_key=True),
    Column("salt", String(32), nullable=False, unique=True),  # names the proof
    Column("resident_id", Key, ForeignKey("residents.id"), nullable=False),
    Column("perk", String(64), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("valid_until", Date, nullable=False),
    Index(None, "resident_id"),
)

proof_revocations = Table(
    "proof_revocations",
    metadata,
    Column("id", Key, primary_key=True),
    Column("proof_id", Key, ForeignKey("issued_proofs.id"), nullable=False, unique=True),
    Column("revoked_at", UtcDateTime, nullable=False),
    Column("reason", String(64), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Key, primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(64)),
    Column("purpose", String(256), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # format 2 (an entry about a resident; migration 0013): see osmanthus.audit.chain
    Column("salt", String(32)),
    Column("sealed", Text),
    Column("subject_digest", String(71)),  # set when redacted by an erasure
    Column("detail_digest", String(71)),
    # partial (WHERE action = 'ledger.pseudonym_key') as migration 0018 creates it: the
    # key's fingerprint in one look-up (osmanthus.ledger.key_fingerprint); the condition
    # is not repeated here, for the reason given at records' incident_ref index
    Index("ix_audit_log_pseudonym_key", "seq"),
)

audit_subjects = Table(
    "audit_subjects",
    metadata,
    Column("subject_key", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", Key, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

audit_indexed = Table(
    "audit_indexed",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1: one row
    Column("upto", Key, nullable=False),
)

audit_archives = Table(
    "audit_archives",
    metadata,
    # one closed month of the chain, exported and detached (osmanthus.ledger.archive)
    Column("month", String(7), primary_key=True),  # YYYY-MM (UTC)
    Column("first_seq", Key, nullable=False),
    Column("last_seq", Key, nullable=False),
    Column("hash", String(64), nullable=False),  # the hash of entry last_seq
    Column("file_name", String(128), nullable=False),
    Column("at", String(32), nullable=False),
    Column("document", Text, nullable=False),  # the signed checkpoint of entry last_seq
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", Key, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("at", String(32), nullable=False),
    Column("document", Text, nullable=False),  # the signed checkpoint, as published
)

policy_proposals = Table(
    "policy_proposals",
    metadata,
    Column("id", Key, primary_key=True),
    Column("policy", String(64), nullable=False),
    Column("content_hash", String(64), nullable=False),  # SHA-256 of the bundle below
    Column("base_hash", String(64)),  # the approved bundle it was checked against, if any
    Column("bundle", Text, nullable=False),  # every file of the proposal, as canonical JSON
    Column("proposed_by", String(200), nullable=False),
    Column("proposed_at", UtcDateTime, nullable=False),
    Column("validation", Text, nullable=False),  # JSON: charter, guardrails, authors' tests
    Column("impact", Text),  # JSON: the impact report, when the validation passed
    Index(None, "policy"),
)

policy_decisions = Table(
    "policy_decisions",
    metadata,
    Column("id", Key, primary_key=True),
    Column("proposal_id", Key, ForeignKey("policy_proposals.id"), nullable=False),
    Column("decision", String(16), nullable=False),  # approve or reject
    Column("decided_by", String(200), nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("reason", Text),
    Index(None, "proposal_id"),
)

signin_attempts = Table(
    "signin_attempts",
    metadata,
    # sign-in attempts per client address in the last 15 minutes, shared by every web
    # worker (osmanthus.ledger.signin_attempts); operational state, not audited
    Column("id", Key, primary_key=True),
    Column("address_key", String(64), nullable=False),  # a keyed hash of the address
    Column("at", Float(53), nullable=False),  # seconds since the epoch
    Index("ix_signin_attempts_address_key", "address_key", "at"),
    Index("ix_signin_attempts_at", "at"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the cookie's token
    Column("kind", String(16), nullable=False),  # resident or key
    Column("subject", String(64), nullable=False),  # a pseudonym, or a key's SHA-256
    Column("opened_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
)
