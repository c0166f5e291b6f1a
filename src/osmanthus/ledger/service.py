"""The ledger in the web service: group-committed read entries, the hot read on a kept
connection, and the database's upkeep, started and stopped with the service.
"""

from __future__ import annotations

from osmanthus.ledger.handle import LedgerBase

__all__ = ["ServiceLifecycle"]


class ServiceLifecycle(LedgerBase):
    """Start and stop what the service keeps running."""

    def start_service(self, *, upkeep_process: bool = False) -> None:
        """Serve many readers (the web service): read entries are committed in groups
        (each read still returns only after its entry is committed), the hot read runs on
        a kept connection (:mod:`osmanthus.ledger.quick_read`), and this process keeps the
        database (:mod:`osmanthus.ledger.upkeep`; on SQLite with ``upkeep_process``, in a
        process of its own) unless another one of the machine already does."""
        from osmanthus.ledger.group_audit import GroupAudit  # the service's parts only
        from osmanthus.ledger.quick_read import QuickReader
        from osmanthus.ledger.upkeep import Upkeep

        if self._group_audit is None:
            self._group_audit = GroupAudit(self.engine)
            self._quick = QuickReader(self.engine, with_profile=self._needs_profile)
            self._upkeep = Upkeep(self.engine, own_process=upkeep_process)
            self._upkeep.start()

    def stop_service(self) -> None:
        if self._upkeep is not None:
            self._upkeep.stop()
            self._upkeep = None
        if self._group_audit is not None:
            self._group_audit.close()
            self._group_audit = None
        if self._quick is not None:
            self._quick.close()
            self._quick = None
