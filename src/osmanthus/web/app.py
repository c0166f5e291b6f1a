"""The web service: ``create_app(settings)`` builds the FastAPI application.

- operations: ``/health``, ``/ready``, ``/metrics``, ``/api/v1/ping``;
- the resident portal (:mod:`osmanthus.web.portal`);
- the department console (:mod:`osmanthus.web.console`);
- providers' eligibility checks (:mod:`osmanthus.web.provider`);
- the oversight dashboard (:mod:`osmanthus.web.oversight`).

Pages are server-rendered (Jinja2, htmx) in Simplified Chinese and English; browser
sessions are signed cookies whose key is derived from the pseudonym key, so there is
one secret to keep.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.middleware.sessions import SessionMiddleware

from osmanthus.errors import ConfigError, LedgerError
from osmanthus.governance import policy_in_force
from osmanthus.i18n import Catalogues
from osmanthus.ledger import Ledger
from osmanthus.policy import PolicySet
from osmanthus.reports import load_signing_key
from osmanthus.scoring.remembered import Decisions, Explanations
from osmanthus.settings import Settings
from osmanthus.web.asgi import PrefixedRedirects
from osmanthus.web.check_limit import DailyChecks
from osmanthus.web.console import UploadLimit, console_router
from osmanthus.web.documents import documents_router
from osmanthus.web.due_process import due_process_router
from osmanthus.web.errors import document_errors, install_error_handlers
from osmanthus.web.fast_path import EligibilityFastPath
from osmanthus.web.governance import governance_router
from osmanthus.web.headers import SecurityHeaders, install_docs
from osmanthus.web.notices import notices_router
from osmanthus.web.observability import install_observability
from osmanthus.web.oidc import oidc_router
from osmanthus.web.oversight import oversight_router
from osmanthus.web.pages import Pages
from osmanthus.web.portal import portal_router
from osmanthus.web.provider import provider_router
from osmanthus.web.schedules import service_schedules
from osmanthus.web.session import LedgerDep
from osmanthus.web.throttle import AddressThrottle
from osmanthus.web.transparency import transparency_router

__all__ = ["create_app", "from_environment"]

STATIC = Path(__file__).parent / "static"
SESSION_HOURS = 8  # an absolute limit; idle limits are shorter (osmanthus.web.session)


class Health(BaseModel):
    ok: bool
    status: str


def session_secret(settings: Settings) -> str:
    """The cookie-signing key, derived from the pseudonym key (one secret to keep)."""
    return hmac.new(settings.key_bytes, b"osmanthus web session v1", hashlib.sha256).hexdigest()


def _open_approved(settings: Settings) -> Ledger:
    """The ledger under its approved policy (read from the ledger: :mod:`osmanthus.governance`);
    a service never scores with whatever files are in a folder."""
    ledger = Ledger.from_settings(settings, PolicySet(()))
    try:
        ledger.check_ready()  # migrated, and opened with the ledger's own pseudonym key
        ledger.use_policy(policy_in_force(ledger.engine))
    except BaseException:
        ledger.engine.dispose()
        raise
    return ledger


def create_app(settings: Settings, ledger: Ledger | None = None) -> FastAPI:
    """The application for ``settings`` (or for an already open ``ledger``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ledger = ledger or _open_approved(settings)
        app.state.ledger.start_service(upkeep_process=settings.upkeep_process)
        app.state.decisions = Decisions(app.state.ledger.policy)
        app.state.daily_checks = DailyChecks(settings.provider_checks_per_day)
        app.state.signin_throttle = AddressThrottle(
            app.state.ledger.engine, settings.key_bytes, settings.signin_refusals_per_address
        )
        app.state.explanations = Explanations(app.state.ledger.policy)
        schedules = service_schedules(app.state.ledger, app.state.signing_key, settings)
        for schedule in schedules:
            schedule.start()
        # Everything built so far (policy, templates, catalogues, routes) lives as long as
        # the process: keep it out of the collector's full passes, which otherwise walk it
        # every few thousand requests (the 99th percentile fell from 95 to 20 ms). Once a
        # process (a server starts one app): the full collection first costs 0.25 s in a
        # test process, which starts hundreds, and freezing each app's heap would keep it
        # forever (only the first app's is kept so).
        if gc.get_freeze_count() == 0:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            for schedule in schedules:
                await schedule.stop()
            app.state.ledger.stop_service()
            if ledger is None:
                app.state.ledger.engine.dispose()

    app = FastAPI(
        title="Osmanthus",
        version="0.1.0",
        description="Civic-credit points: every point cites its legal basis; every access "
        "is audited.",
        lifespan=lifespan,
        # Metrics and logs are our own (web.observability); FastAPI's OpenTelemetry
        # hooks, on by default, asked for the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # our own /docs, from assets installed at set-up (web.headers)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.signing_key = load_signing_key(settings)
    install_error_handlers(app)
    app.add_middleware(UploadLimit, most_mb=settings.upload_max_mb)
    app.add_middleware(EligibilityFastPath)  # inside the metrics and logs
    install_observability(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie="osmanthus_session",
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=not settings.demo_mode,
    )
    app.add_middleware(PrefixedRedirects)  # redirects keep a proxy's path prefix
    app.add_middleware(SecurityHeaders, hsts=not settings.demo_mode)  # outermost
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_docs(app)
    pages = app.state.pages = Pages(Catalogues())

    @app.get("/health", response_model=Health, tags=["operations"])
    def health() -> Health:
        """Liveness: the process answers."""
        return Health(ok=True, status="alive")

    @app.get("/ready", response_model=Health, tags=["operations"])
    def ready(ledger: LedgerDep) -> Health:
        """Readiness: the ledger is reachable, migrated, and set up with this service's
        pseudonym key (503 otherwise: a load balancer takes the process out)."""
        try:
            ledger.check_ready()
        except ConfigError as exc:  # another key: not ready, whatever the cause
            raise LedgerError(str(exc)) from None
        return Health(ok=True, status="ready")  # check_ready raised otherwise

    @app.get("/api/v1/ping", response_model=Health, tags=["operations"])
    async def ping() -> Health:
        """A trivial JSON answer (the baseline of the eligibility benchmark)."""
        return Health(ok=True, status="pong")

    # Routes are matched in order, one by one (each included router's routes in turn):
    # the busiest come first (residents' pages; providers' checks by ID number are
    # answered before routing, web.fast_path).
    app.include_router(portal_router(pages))
    app.include_router(provider_router(pages))
    app.include_router(oidc_router(settings))
    app.include_router(console_router(pages))
    app.include_router(due_process_router(pages))
    app.include_router(notices_router(pages))
    app.include_router(documents_router(pages))
    app.include_router(oversight_router(pages, settings.resolved_population_dir / "runs"))
    app.include_router(
        governance_router(pages, settings.policy_dir, settings.resolved_population_dir)
    )
    app.include_router(transparency_router(pages, settings.resolved_population_dir / "runs"))
    document_errors(app)
    return app


def from_environment() -> FastAPI:
    """The application for the settings in the environment (uvicorn's factory, so that
    every worker process builds its own)."""
    from osmanthus.settings import get_settings

    return create_app(get_settings())
