"""Prometheus metrics and structured (JSON) request logs."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

__all__ = ["install_observability"]

log = logging.getLogger("osmanthus.web.access")


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

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        response = await call_next(request)
        seconds = time.perf_counter() - started
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.labels(route, request.method, str(response.status_code)).inc()
        latency.labels(route, request.method).observe(seconds)
        response.headers["x-request-id"] = request_id
        if log.isEnabledFor(logging.INFO):
            log.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "method": request.method,
                        "route": route,
                        "status": response.status_code,
                        "ms": round(seconds * 1000, 2),
                    }
                )
            )
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
