"""The ledger's handle: its database, policy, pseudonym key and clock, and what its writes
and reads share (the resident and department look-ups, the text checks).

:class:`osmanthus.ledger.Ledger` is this handle with its writes
(:mod:`osmanthus.ledger.writes`), its audited reads (:mod:`osmanthus.ledger.reads`) and
the service's lifecycle (:mod:`osmanthus.ledger.service`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, bindparam, select

from osmanthus.core import ResidentInfo
from osmanthus.errors import LedgerError, NotFound, RecordRefused, ValidationError
from osmanthus.identity import pseudonym, pseudonyms, validate
from osmanthus.ledger.database import is_current, sqlite_file
from osmanthus.ledger.key_fingerprint import check_key, record_key
from osmanthus.ledger.schema import departments, residents
from osmanthus.policy import PolicySet

if TYPE_CHECKING:
    import pyarrow as pa

    from osmanthus.ledger.group_audit import GroupAudit
    from osmanthus.ledger.quick_read import QuickReader
    from osmanthus.ledger.upkeep import Upkeep

__all__ = ["LedgerBase", "check_text"]

_RESIDENT = select(residents).where(residents.c.pseudonym == bindparam("pseudonym"))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LedgerBase:
    """The state every part of the ledger uses."""

    def __init__(
        self,
        engine: Engine,
        policy: PolicySet,
        key: bytes,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        timezone: dt.tzinfo = dt.UTC,
    ) -> None:
        self.engine = engine
        self.policy = policy
        self._key = key
        self._clock = clock
        self._timezone = timezone
        self._group_audit: GroupAudit | None = None
        self._quick: QuickReader | None = None
        self._upkeep: Upkeep | None = None
        #: The folder of the audit log's archived months (erasure redacts there too).
        self.audit_archive_dir: Path | None = None
        # Profile facts are held only where a rule needs them; skip the read otherwise.
        self._needs_profile = any(version.profile for version in policy.versions)

    def use_policy(self, policy: PolicySet) -> None:
        """Score and validate with ``policy`` from now on (the approved one, once read
        from the ledger: :mod:`osmanthus.governance`)."""
        self.policy = policy
        self._needs_profile = any(version.profile for version in policy.versions)

    # -- set-up -----------------------------------------------------------------------

    def check_ready(self) -> None:
        """Raise :class:`LedgerError` unless the database is migrated to the newest schema."""
        if not is_current(self.engine):
            database = sqlite_file(self.engine)
            if database is not None and not Path(database).exists():
                raise LedgerError(
                    f"ledger at {Path(database).absolute()} is not initialised (no such "
                    "file): run 'osmanthus init' ('osmanthus demo' for the demo city) or, if "
                    "it is elsewhere, set OSMANTHUS_DATA_DIR to its folder (a relative "
                    "data_dir is read from the current folder)"
                )
            raise LedgerError(
                f"ledger at {self.engine.url.render_as_string(hide_password=True)} is not "
                "initialised or not up to date: run 'osmanthus init'"
            )
        with self.engine.connect() as conn:
            check_key(conn, self._key)

    def record_key(self, actor: str) -> bool:
        """Record the pseudonym key's fingerprint (``osmanthus init``); True if written,
        False if recorded before (and the same), :class:`ConfigError` if it differs."""
        with self.engine.begin() as conn:
            return record_key(conn, self._key, actor=actor)

    def department_ids(self, conn: Connection) -> dict[str, int]:
        """Department code to row id."""
        return {
            row.code: row.id for row in conn.execute(select(departments.c.code, departments.c.id))
        }

    # -- identity and time ------------------------------------------------------------

    def address_tag(self, address: str) -> str:
        """A keyed hash of a network address (16 hex characters): refused sign-ins are
        counted per address without the address itself in the audit chain."""
        return hmac.new(self._key, b"address:" + address.encode(), hashlib.sha256).hexdigest()[:16]

    def pseudonym_of(self, national_id: str) -> str:
        """Validate a national ID number and return its pseudonym."""
        return pseudonym(self._key, validate(national_id, today=self.today()))

    def pseudonyms_of_valid(self, numbers: list[str]) -> list[str]:
        """Pseudonyms of numbers already checked by :func:`osmanthus.identity.validate_many`."""
        return pseudonyms(self._key, numbers)

    def pseudonym_column(self, numbers: pa.ChunkedArray) -> pa.ChunkedArray:
        """Pseudonyms of a column of normalised numbers (vectorised; see identity)."""
        from osmanthus.identity.columns import pseudonym_column  # DuckDB: bulk paths only

        return pseudonym_column(self._key, numbers)

    def now(self) -> dt.datetime:
        """The current time by the ledger's clock (timezone-aware UTC)."""
        return self._clock()

    @property
    def timezone(self) -> dt.tzinfo:
        """The city's time zone (what "today" is)."""
        return self._timezone

    def today(self) -> dt.date:
        """The current date in the city's time zone, by the ledger's clock."""
        return self._clock().astimezone(self._timezone).date()

    def _resident(
        self, conn: Connection, name: str, known_at: dt.datetime | None = None
    ) -> ResidentInfo:
        row = conn.execute(_RESIDENT, {"pseudonym": name}).first()
        if row is None:
            raise NotFound(f"resident {name[:12]}… is not registered")
        if known_at is not None and row.registered_at > known_at:
            raise NotFound(f"resident {name[:12]}… was not yet registered at {known_at}")
        return ResidentInfo(row.id, row.pseudonym, row.district, row.birth_year)

    def _department_id(self, conn: Connection, code: str) -> int:
        found = conn.execute(select(departments.c.id).where(departments.c.code == code)).scalar()
        if found is None:
            raise RecordRefused(f"department {code!r} is not registered in the ledger")
        return int(found)


def check_text(field: str, value: str, longest: int) -> None:
    """Refuse an empty, over-long or NUL-carrying text field, naming it."""
    if not value or len(value) > longest or "\x00" in value:
        raise ValidationError(
            f"{field}: expected 1 to {longest} characters without NUL, found {len(value)}"
        )
