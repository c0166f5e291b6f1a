"""A small but real OpenID Connect provider for the tests, served over HTTP by uvicorn
in a thread: discovery, an authorization endpoint that approves at once (the user is
whoever the test names), a token endpoint that checks the client secret and the PKCE
verifier, and its JWKS. ID tokens are RS256, signed with joserfc."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Form, HTTPException
from fastapi.responses import RedirectResponse
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID, CLIENT_SECRET = "osmanthus-test", "test-secret-of-the-client"


class OidcProvider:
    def __init__(self, port: int) -> None:
        self.issuer = f"http://127.0.0.1:{port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-1"})
        self.user: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.app = FastAPI()
        self.tamper = False
        self.overrides: dict[str, Any] = {}  # claims the next tokens carry instead
        app = self.app

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, str]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return KeySet([self.key]).as_dict(private=False)

        @app.get("/authorize")
        def authorize(
            redirect_uri: str, state: str, nonce: str, client_id: str, code_challenge: str
        ) -> RedirectResponse:
            if client_id != CLIENT_ID:
                raise HTTPException(400, "unknown client")
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"nonce": nonce, "challenge": code_challenge, "user": self.user}
            return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

        @app.post("/token")
        def token(
            code: str = Form(),
            client_id: str = Form(),
            client_secret: str = Form(),
            code_verifier: str = Form(),
        ) -> dict[str, str]:
            grant = self.codes.pop(code, None)
            if grant is None or (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
                raise HTTPException(400, "invalid_grant")
            digest = hashlib.sha256(code_verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                raise HTTPException(400, "invalid_grant (PKCE)")
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": CLIENT_ID,
                "sub": "user-1",
                "iat": now,
                "exp": now + 300,
                "nonce": grant["nonce"],
                **grant["user"],
                **self.overrides,
            }
            kid = str(self.key.kid)
            signed = jwt.encode({"alg": "RS256", "kid": kid}, claims, self.key)
            if self.tamper:  # a token whose payload was altered after signing
                head, _, signature = signed.split(".")
                other = jwt.encode({"alg": "RS256", "kid": kid}, {**claims, "x": 1}, self.key)
                signed = f"{head}.{other.split('.')[1]}.{signature}"
            return {"access_token": "unused", "token_type": "Bearer", "id_token": signed}

    def rotate_key(self) -> None:
        """Sign with a new key from now on (published at once, the old one withdrawn)."""
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4)})


@contextmanager
def running_provider() -> Iterator[OidcProvider]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    provider = OidcProvider(port)
    server = uvicorn.Server(uvicorn.Config(provider.app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)
