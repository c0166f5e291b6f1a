"""The service's published checkpoints: while it runs, the web service signs a checkpoint
of the audit chain on the schedule of ``audit_checkpoint_hours``
(:func:`osmanthus.reports.checkpoint.checkpoint_if_due`) and keeps it in the ledger, where
the oversight dashboard shows the latest and ``osmanthus audit verify --since SEQ``
starts from one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from contextlib import suppress

from sqlalchemy import Engine

from osmanthus.errors import OsmanthusError
from osmanthus.reports import SigningKey
from osmanthus.reports.checkpoint import checkpoint_if_due

__all__ = ["CheckpointSchedule"]

log = logging.getLogger("osmanthus.web")

#: How often the schedule looks (the checkpoints themselves are ``hours`` apart).
LOOK_EVERY = dt.timedelta(minutes=5)


class CheckpointSchedule:
    """A task on the service's event loop; the signing and the writes run on a thread."""

    def __init__(self, engine: Engine, key: SigningKey, hours: float) -> None:
        self._engine = engine
        self._key = key
        self._every = dt.timedelta(hours=hours)
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
        pause = min(self._every, LOOK_EVERY).total_seconds()
        while True:
            try:
                made = await asyncio.to_thread(
                    checkpoint_if_due, self._engine, self._key, every=self._every
                )
            except OsmanthusError as exc:  # the service goes on; the next look tries again
                log.warning("audit checkpoint not written: %s", exc)
            else:
                if made is not None:
                    body = made["body"]
                    log.info("audit checkpoint of entry %s (%s) kept", body["seq"], body["hash"])
            await asyncio.sleep(pause)
