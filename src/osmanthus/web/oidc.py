"""Residents sign in through the city's OpenID Connect provider (production).

The authorization-code flow with PKCE: ``/signin/oidc`` sends the browser to the
provider with a fresh state and nonce kept in the session; ``/signin/oidc/callback``
checks the state, exchanges the code at the token endpoint (client secret), and verifies
the ID token with joserfc against the provider's published keys (JWKS): signature,
issuer, audience, expiry and nonce. The national ID number comes from the claim named by
``oidc_id_claim``; it becomes the pseudonym, as with a password, and is not kept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import urllib.parse
import urllib.request
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from osmanthus.errors import NotFound, NotSignedIn
from osmanthus.residents import sign_in_verified
from osmanthus.settings import Settings
from osmanthus.web.session import LedgerDep, open_resident_session

__all__ = ["oidc_router"]

TIMEOUT = 10  # seconds for each call to the provider
CACHE_SECONDS = 3600


class Provider:
    """The provider's configuration and keys, fetched on first use and cached."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._config: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None

    @property
    def configured(self) -> bool:
        s = self.settings
        return bool(s.oidc_issuer and s.oidc_client_id and s.oidc_client_secret)

    def _get(self, url: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
                found: dict[str, Any] = json.loads(answer.read())
        except (OSError, ValueError) as exc:
            raise NotSignedIn(f"the identity provider did not answer ({url}): {exc}") from exc
        return found

    def config(self) -> dict[str, Any]:
        if self._config is None or time.monotonic() - self._config[0] > CACHE_SECONDS:
            issuer = str(self.settings.oidc_issuer).rstrip("/")
            self._config = (
                time.monotonic(),
                self._get(f"{issuer}/.well-known/openid-configuration"),
            )
        return self._config[1]

    def keys(self, *, fresh: bool = False) -> KeySet:
        if fresh or self._keys is None or time.monotonic() - self._keys[0] > CACHE_SECONDS:
            published: Any = self._get(self.config()["jwks_uri"])
            self._keys = (time.monotonic(), KeySet.import_key_set(published))
        return self._keys[1]

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> str:
        """The ID token for an authorization code."""
        assert self.settings.oidc_client_secret is not None
        form = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": self.settings.oidc_client_id,
                "client_secret": self.settings.oidc_client_secret.get_secret_value(),
                "code_verifier": verifier,
            }
        ).encode()
        request = urllib.request.Request(self.config()["token_endpoint"], data=form)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                token = json.loads(answer.read())
        except (OSError, ValueError) as exc:
            raise NotSignedIn(f"the identity provider refused the code: {exc}") from exc
        if not isinstance(token, dict) or not isinstance(token.get("id_token"), str):
            raise NotSignedIn("the identity provider sent no ID token")
        return str(token["id_token"])

    def claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The verified claims of an ID token (signature, issuer, audience, expiry, nonce)."""
        try:
            try:
                token = jwt.decode(id_token, self.keys(), algorithms=["RS256", "ES256"])
            except JoseError:  # perhaps the provider rotated its keys: fetch them once more
                token = jwt.decode(id_token, self.keys(fresh=True), algorithms=["RS256", "ES256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.config()["issuer"]},
                aud={"essential": True, "value": str(self.settings.oidc_client_id)},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise NotSignedIn(f"the ID token does not verify: {exc}") from exc
        return dict(token.claims)


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def oidc_router(settings: Settings) -> APIRouter:
    router = APIRouter()
    provider = Provider(settings)

    def redirect_uri(request: Request) -> str:
        return settings.oidc_redirect_url or str(request.url_for("oidc_callback"))

    @router.get("/signin/oidc", include_in_schema=False)
    def start(request: Request, kiosk: bool = False) -> Response:
        if not provider.configured:
            raise NotFound("OpenID Connect sign-in is not configured here")
        state, nonce, verifier = (secrets.token_urlsafe(24) for _ in range(3))
        request.session["oidc"] = {
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "kiosk": kiosk,
        }
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": settings.oidc_client_id,
                "redirect_uri": redirect_uri(request),
                "scope": "openid",
                "state": state,
                "nonce": nonce,
                "code_challenge": _challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        return RedirectResponse(f"{provider.config()['authorization_endpoint']}?{query}", 303)

    @router.get("/signin/oidc/callback", name="oidc_callback", include_in_schema=False)
    def callback(request: Request, ledger: LedgerDep, code: str = "", state: str = "") -> Response:
        started = request.session.pop("oidc", None)
        if not provider.configured:
            raise NotFound("OpenID Connect sign-in is not configured here")
        if not started or not code or not secrets.compare_digest(state, started["state"]):
            raise NotSignedIn("sign-in refused: the answer does not match a sign-in started here")
        id_token = provider.exchange(code, redirect_uri(request), started["verifier"])
        claims = provider.claims(id_token, started["nonce"])
        number = claims.get(settings.oidc_id_claim)
        if not isinstance(number, str):
            raise NotSignedIn(
                f"sign-in refused: the ID token has no {settings.oidc_id_claim!r} claim"
            )
        name = sign_in_verified(ledger, number, how="OpenID Connect")
        open_resident_session(request, name, kiosk=bool(started.get("kiosk")))
        return RedirectResponse("/me", 303)

    return router
