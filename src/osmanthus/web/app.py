"""The web service: ``create_app(settings)`` builds the FastAPI application.

This first part serves operations (health, readiness, metrics) and the provider API
(eligibility: eligible or not, and until when). The resident portal, the department
console and the oversight dashboard join it in later steps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request
from pydantic import BaseModel, Field

from osmanthus.ledger import Ledger, is_current
from osmanthus.scoring.eligibility import check_eligibility
from osmanthus.settings import Settings
from osmanthus.web.access import Caller, authenticate
from osmanthus.web.errors import install_error_handlers
from osmanthus.web.observability import install_observability

__all__ = ["create_app", "from_environment"]


class EligibilityRequest(BaseModel):
    """A provider's question about one resident and one perk."""

    national_id: str = Field(min_length=1, max_length=32, description="Hashed on arrival.")
    perk: str = Field(min_length=1, max_length=64)
    purpose: str = Field(min_length=1, max_length=256, description="Written to the audit chain.")


class EligibilityAnswer(BaseModel):
    """Eligible or not, and until when; never the score or the records."""

    ok: bool = True
    perk: str
    eligible: bool
    valid_until: dt.date | None
    decided_on: dt.date


class Health(BaseModel):
    ok: bool
    status: str


def the_ledger(request: Request) -> Ledger:
    found: Ledger = request.app.state.ledger
    return found


def caller(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Caller:
    key = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    return authenticate(the_ledger(request).engine, key)


LedgerDep = Annotated[Ledger, Depends(the_ledger)]
CallerDep = Annotated[Caller, Depends(caller)]


def create_app(settings: Settings, ledger: Ledger | None = None) -> FastAPI:
    """The application for ``settings`` (or for an already open ``ledger``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ledger = ledger or Ledger.from_settings(settings)
        try:
            yield
        finally:
            if ledger is None:
                app.state.ledger.engine.dispose()

    app = FastAPI(
        title="Osmanthus",
        version="0.1.0",
        description="Civic-credit points: every point cites its legal basis; every access "
        "is audited.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_observability(app)

    @app.get("/health", response_model=Health, tags=["operations"])
    def health() -> Health:
        """Liveness: the process answers."""
        return Health(ok=True, status="alive")

    @app.get("/ready", response_model=Health, tags=["operations"])
    def ready(ledger: LedgerDep) -> Health:
        """Readiness: the ledger is reachable and migrated."""
        ledger.check_ready()
        return Health(ok=is_current(ledger.engine), status="ready")

    @app.get("/api/v1/ping", response_model=Health, tags=["operations"])
    def ping() -> Health:
        """A trivial JSON answer (the baseline of the eligibility benchmark)."""
        return Health(ok=True, status="pong")

    @app.post(
        "/api/v1/eligibility",
        response_model=EligibilityAnswer,
        tags=["providers"],
        responses={401: {}, 403: {}, 404: {}, 422: {}},
    )
    def eligibility(
        question: EligibilityRequest, ledger: LedgerDep, who: CallerDep
    ) -> EligibilityAnswer:
        """Whether the resident qualifies for a perk, and until when (providers only)."""
        who.require("provider")
        found = check_eligibility(
            ledger, question.national_id, question.perk, actor=who.actor, purpose=question.purpose
        )
        return EligibilityAnswer(
            perk=found.perk,
            eligible=found.eligible,
            valid_until=found.valid_until,
            decided_on=found.decided_on,
        )

    return app


def from_environment() -> FastAPI:
    """The application for the settings in the environment (uvicorn's factory, so that
    every worker process builds its own)."""
    from osmanthus.settings import get_settings

    return create_app(get_settings())
