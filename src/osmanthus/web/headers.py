"""Security headers on every answer, and the API documentation served from our own
assets (no CDN).

- ``Content-Security-Policy``: scripts, styles, fonts and connections from this origin
  only, no inline script, no plugin, no framing by any page (``frame-ancestors
  'none'``, and ``X-Frame-Options: DENY`` for older browsers), forms posting only here.
  ``/docs`` alone allows inline styles (Swagger UI sets some).
- ``X-Content-Type-Options: nosniff``; ``Referrer-Policy: no-referrer``.
- ``Strict-Transport-Security`` outside demo mode (the demo serves plain HTTP).
- ``Cache-Control: no-store`` on everything but the static assets: pages and answers
  carry personal data (scores, reports, proofs, disputes), and a shared computer's cache
  must not keep them.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from osmanthus.web.asgi import route_path

__all__ = ["SecurityHeaders", "install_docs"]

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_POLICY = POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """Adds the headers above to every HTTP answer (pure ASGI: no copy of the body)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if hsts:
            common.append((b"strict-transport-security", HSTS.encode()))
        self._common = common

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        policy = DOCS_POLICY if path == "/docs" else POLICY
        extra = [(b"content-security-policy", policy.encode()), *self._common]
        if not path.startswith("/static/"):
            extra.append((b"cache-control", b"no-store"))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"cache-control",) or path.startswith("/static/")
                ]
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, sending)


_DOCS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Osmanthus API</title>
<link rel="stylesheet" href="static/vendor/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="static/vendor/swagger-ui-bundle.js"></script>
<script src="static/docs.js"></script></body></html>"""


def install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the assets installed at set-up (``dev.py`` fetches
    ``swagger-ui-dist`` from the npm registry, hash-checked), started by our own script."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(_DOCS)
