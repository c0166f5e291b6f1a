"""Prometheus metrics and structured (JSON) request logs."""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from osmanthus.errors import OsmanthusError
from osmanthus.ledger.audit_subjects import unindexed_entries
from osmanthus.ledger.dispute_reads import overdue_count
from osmanthus.ledger.notices import delivery_backlog

__all__ = ["install_observability"]

log = logging.getLogger("osmanthus.web.access")


class Observe:
    """Pure ASGI middleware (no task or stream per request, unlike an ``http`` middleware
    function): counts, times and logs every request and sets ``x-request-id``."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency
        # Request ids: unique per process start (random prefix) and counted within it
        # (uuid4 per request cost a system call each).
        self.prefix = uuid.uuid4().hex[:8] + "-"
        self.counter = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        request_id = given.decode("latin-1")[:64] or f"{self.prefix}{next(self.counter):x}"
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.requests.labels(route, method, str(status)).inc()
            self.latency.labels(route, method).observe(seconds)
            if log.isEnabledFor(logging.INFO):
                client = scope.get("client")  # the proxy's client when the proxy is trusted
                log.info(
                    json.dumps(
                        {
                            "request_id": request_id,
                            "client": client[0] if client else None,
                            "method": method,
                            "route": route,
                            "status": status,
                            "ms": round(seconds * 1000, 2),
                        }
                    )
                )


def _run_age(runs: Path) -> float:
    """Seconds since the newest finished population run (its run.json) was written."""
    done = [p / "run.json" for p in runs.iterdir() if (p / "run.json").is_file()]
    if not done:
        return math.nan
    return time.time() - max(path.stat().st_mtime for path in done)


#: The gauges read from the ledger at each scrape: (name, help, read).
_GAUGES: tuple[tuple[str, str, Callable[[Any], float]], ...] = (
    (
        "osmanthus_audit_unindexed_entries",
        "Audit entries not yet indexed by subject (growing: the upkeep has stopped)",
        lambda ledger: unindexed_entries(ledger.engine),
    ),
    (
        "osmanthus_disputes_overdue",
        "Disputes awaiting an answer or a review after their deadline",
        lambda ledger: overdue_count(ledger.engine, ledger.today()),
    ),
    (
        "osmanthus_notice_backlog",
        "Notices due for e-mail and not yet sent (growing: the delivery worker stopped)",
        lambda ledger: delivery_backlog(ledger.engine, ledger.now()),
    ),
)


class LedgerGauges(Collector):
    """The ledger's gauges, read at each scrape: the same whichever worker answers, so
    they are kept out of the workers' shared counter files."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def collect(self) -> Any:
        ledger = getattr(self._app.state, "ledger", None)
        for name, text, read in _GAUGES:
            try:
                value = float(read(ledger)) if ledger else math.nan
            except (OsmanthusError, SQLAlchemyError):  # the database is down: /ready says so
                value = math.nan
            yield GaugeMetricFamily(name, text, value=value)
        settings = getattr(self._app.state, "settings", None)
        runs = settings.resolved_population_dir / "runs" if settings else None
        try:
            age = _run_age(runs) if runs is not None else math.nan
        except OSError:  # no runs yet
            age = math.nan
        yield GaugeMetricFamily(
            "osmanthus_population_run_age_seconds",
            "Seconds since the newest population run finished (NaN: none yet)",
            value=age,
        )


def _counted(registry: CollectorRegistry) -> bytes:
    """The request counters: this process's, or with several workers every worker's
    added up (prometheus_client's multiprocess mode: :mod:`osmanthus.web.serving`)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(registry)
    from prometheus_client import multiprocess

    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
    return generate_latest(merged)


def install_observability(app: FastAPI) -> None:
    """Count and time every request by route and status; log one JSON line each; serve
    ``/metrics``."""
    registry = CollectorRegistry()
    requests = Counter(
        "osmanthus_http_requests",
        "HTTP requests",
        ["route", "method", "status"],
        registry=registry,
    )
    latency = Histogram(
        "osmanthus_http_request_seconds",
        "HTTP request latency",
        ["route", "method"],
        registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    )

    app.add_middleware(Observe, requests=requests, latency=latency)

    gauges = CollectorRegistry()
    gauges.register(LedgerGauges(app))

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(
            _counted(registry) + generate_latest(gauges), media_type=CONTENT_TYPE_LATEST
        )
