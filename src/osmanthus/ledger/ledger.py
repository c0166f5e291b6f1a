"""The ledger: the system of record, and its one door.

:class:`Ledger` is its handle (:mod:`osmanthus.ledger.handle`: the database, the policy,
the pseudonym key and the clock) with its validated, audited writes
(:mod:`osmanthus.ledger.writes`), its audited reads (:mod:`osmanthus.ledger.reads`) and
the web service's lifecycle (:mod:`osmanthus.ledger.service`). The ledger does not read
policy files: whoever opens it (the CLI, the web app) loads the policy and hands it over.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from osmanthus.ledger.database import connect
from osmanthus.ledger.reads import AuditedReads
from osmanthus.ledger.service import ServiceLifecycle
from osmanthus.ledger.writes import LedgerWrites
from osmanthus.policy import PolicySet
from osmanthus.settings import Settings

__all__ = ["Ledger"]


class Ledger(LedgerWrites, AuditedReads, ServiceLifecycle):
    """Validated reads and writes of residents, departments and records."""

    @classmethod
    def from_settings(cls, settings: Settings, policy: PolicySet) -> Ledger:
        """Open the ledger that ``settings`` describe, under ``policy``."""
        ledger = cls(
            connect(settings.resolved_database_url),
            policy,
            settings.key_bytes,
            timezone=ZoneInfo(settings.timezone),
        )
        ledger.audit_archive_dir = settings.resolved_audit_archive_dir
        return ledger
