"""Residents sign in through the city's OpenID Connect provider (production).

The client is Authlib's (its Starlette integration, over httpx2): the authorization-code
flow with PKCE (S256), a fresh state and nonce kept in the session, the code exchanged
at the token endpoint with the client secret, and the ID token verified against the
provider's published keys (JWKS, fetched again once when a token names a key not seen
yet): signature, issuer, audience, expiry and nonce. What this module adds: the national
ID number comes from the claim named by ``oidc_id_claim``; it becomes the pseudonym, as
with a password, and is not kept; every refusal is one :class:`NotSignedIn` line.
"""

from __future__ import annotations

from typing import Any

import httpx2
from authlib.integrations.starlette_client import OAuth, OAuthError, StarletteOAuth2App
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool

from osmanthus.errors import NotFound, NotSignedIn
from osmanthus.residents import sign_in_verified
from osmanthus.settings import Settings
from osmanthus.web.session import LedgerDep, open_resident_session

__all__ = ["oidc_router"]

TIMEOUT = 10  # seconds for each call to the provider
_KIOSK = "oidc_kiosk"  # session: the sign-in was started at a kiosk

#: What a provider that cannot be reached, or a token that does not verify, raises.
_REFUSALS = (OAuthError, JoseError, httpx2.HTTPError, ValueError, KeyError)


def _client(settings: Settings) -> StarletteOAuth2App | None:
    """Authlib's client for the configured provider (None when not configured)."""
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        return None
    issuer = str(settings.oidc_issuer).rstrip("/")
    oauth = OAuth()
    client: StarletteOAuth2App = oauth.register(
        "city",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid",
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_post",
            "timeout": TIMEOUT,
        },
    )
    return client


def oidc_router(settings: Settings) -> APIRouter:
    router = APIRouter()
    client = _client(settings)

    def configured() -> StarletteOAuth2App:
        if client is None:
            raise NotFound("OpenID Connect sign-in is not configured here")
        return client

    def redirect_uri(request: Request) -> str:
        return settings.oidc_redirect_url or str(request.url_for("oidc_callback"))

    @router.get("/signin/oidc", include_in_schema=False)
    async def start(request: Request, kiosk: bool = False) -> Response:
        provider = configured()
        request.session[_KIOSK] = kiosk
        try:
            sent = await provider.authorize_redirect(request, redirect_uri(request))
        except _REFUSALS as exc:
            raise NotSignedIn(f"the identity provider did not answer: {_said(exc)}") from exc
        return RedirectResponse(sent.headers["location"], 303)

    @router.get("/signin/oidc/callback", name="oidc_callback", include_in_schema=False)
    async def callback(request: Request, ledger: LedgerDep) -> Response:
        provider = configured()
        kiosk = bool(request.session.pop(_KIOSK, False))
        try:
            token = await provider.authorize_access_token(request)
        except _REFUSALS as exc:
            raise NotSignedIn(f"sign-in refused: {_said(exc)}") from exc
        claims: dict[str, Any] = dict(token.get("userinfo") or {})
        if not claims:
            raise NotSignedIn("sign-in refused: the identity provider sent no ID token")
        number = claims.get(settings.oidc_id_claim)
        if not isinstance(number, str):
            raise NotSignedIn(
                f"sign-in refused: the ID token has no {settings.oidc_id_claim!r} claim"
            )

        def enter() -> None:  # writes to the ledger: off the event loop
            name = sign_in_verified(ledger, number, how="OpenID Connect")
            open_resident_session(request, name, kiosk=kiosk)

        await run_in_threadpool(enter)
        return RedirectResponse("/me", 303)

    return router


def _said(exc: Exception) -> str:
    """One line for a refusal (Authlib's errors carry their text in ``description``)."""
    text = getattr(exc, "description", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:200]
