"""Work the running service does on a schedule, on threads beside its event loop:

- **audit checkpoints**: a signed checkpoint of the audit chain every
  ``audit_checkpoint_hours`` (:func:`osmanthus.reports.checkpoint.checkpoint_if_due`),
  kept in the ledger, where the oversight dashboard shows the latest and ``osmanthus
  audit verify --since SEQ`` starts from one;
- **the dispute deadline sweep**: every ``dispute_sweep_minutes``, the record of every
  dispute not answered by its deadline is set aside from the next day
  (:func:`osmanthus.disputes.sweep_disputes`);
- **the retention pass**: every ``retention_hours``, residents and records whose
  retention ran are erased (:func:`osmanthus.retention.retention_pass`).

Each worker process runs them; all are idempotent (a checkpoint is made only when due,
a dispute's row is locked and checked again before it is swept, an erased resident or
record is not erased twice), so several workers do the work once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from osmanthus.errors import OsmanthusError

__all__ = ["LOOK_EVERY", "Periodic", "service_schedules"]

log = logging.getLogger("osmanthus.web")

#: How often the checkpoint schedule looks (the checkpoints themselves are hours apart).
LOOK_EVERY = dt.timedelta(minutes=5)


class Periodic:
    """A task on the service's event loop that runs ``work`` on a thread every ``every``
    (from start-up, or from ``first_after`` later); ``report`` logs what it returned. A
    failure is logged and the next round tries again."""

    def __init__(
        self,
        name: str,
        work: Callable[[], Any],
        every: dt.timedelta,
        report: Callable[[Any], None] = lambda _: None,
        *,
        first_after: dt.timedelta = dt.timedelta(0),
    ) -> None:
        self.name = name
        self._work = work
        self._every = every
        self._report = report
        self._first_after = first_after
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._every > dt.timedelta(0):
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        await asyncio.sleep(self._first_after.total_seconds())
        while True:
            try:
                done = await asyncio.to_thread(self._work)
            except OsmanthusError as exc:  # the service goes on; the next round tries again
                log.warning("%s: not done: %s", self.name, exc)
            else:
                self._report(done)
            await asyncio.sleep(self._every.total_seconds())


def service_schedules(ledger: Any, signing_key: Any, settings: Any) -> list[Periodic]:
    """The service's schedules for this ledger and these settings."""
    from osmanthus.disputes import sweep_disputes
    from osmanthus.reports.checkpoint import checkpoint_if_due

    every = dt.timedelta(hours=settings.audit_checkpoint_hours)

    def checkpoint() -> Any:
        return checkpoint_if_due(ledger.engine, signing_key, every=every)

    def checkpointed(made: Any) -> None:
        if made is not None:
            body = made["body"]
            log.info("audit checkpoint of entry %s (%s) kept", body["seq"], body["hash"])

    def swept(found: Any) -> None:
        for d in found.suspended:
            log.info("dispute %s overdue: record %s set aside", d.id, d.record_id)

    def retained(report: Any) -> None:
        if report.records or report.residents:
            log.info(
                "retention: %s resident(s) and %s record(s) erased",
                sum(report.residents.values()),
                report.records,
            )
        for line in report.skipped:
            log.info("retention: %s", line)

    from osmanthus.retention import retention_pass

    schedules = [
        Periodic(
            "dispute sweep",
            lambda: sweep_disputes(ledger),
            dt.timedelta(minutes=settings.dispute_sweep_minutes),
            swept,
        ),
        Periodic(  # not at start-up: its transactions hold the write lock a while
            "retention",
            lambda: retention_pass(ledger),
            dt.timedelta(hours=settings.retention_hours),
            retained,
            first_after=dt.timedelta(hours=settings.retention_hours),
        ),
    ]
    if every > dt.timedelta(0):
        schedules.append(
            Periodic("audit checkpoint", checkpoint, min(every, LOOK_EVERY), checkpointed)
        )
    return schedules
