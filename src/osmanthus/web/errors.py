"""One error envelope for JSON and HTML: ``{ok, error, errors, status}``.

Routes raise domain errors (:mod:`osmanthus.errors`); this module maps each kind to its
HTTP status and renders the envelope as JSON for API paths and clients asking for JSON,
or as a short HTML page for browsers. Field errors carry their path (``body/perk``).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from osmanthus.errors import (
    AccessDenied,
    LedgerError,
    NotFound,
    NotSignedIn,
    OsmanthusError,
    SignatureInvalid,
    StepRefused,
    TooManyRequests,
    ValidationError,
)

__all__ = ["ErrorOut", "document_errors", "envelope", "install_error_handlers", "status_of"]

log = logging.getLogger("osmanthus.web")

_STATUS: tuple[tuple[type[OsmanthusError], int], ...] = (
    (NotSignedIn, 401),
    (AccessDenied, 403),
    (NotFound, 404),
    (StepRefused, 409),
    (ValidationError, 422),
    (SignatureInvalid, 422),
    (TooManyRequests, 429),
    (LedgerError, 503),
)


def status_of(error: OsmanthusError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


def envelope(status: int, error: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"ok": False, "error": error, "errors": errors or [], "status": status}


def _render(
    request: Request, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    status = int(body["status"])
    headers = dict(headers or {})  # the framework's own (Allow on a 405) are kept
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    wants_html = not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )
    if wants_html and status == 401:  # a browser is sent to the sign-in page
        return RedirectResponse("/signin", status_code=303)
    pages = getattr(request.app.state, "pages", None)
    if wants_html and pages is not None:  # the site's own page, in the session's language
        found: Response = pages.render(
            request, "error.html", status=status, headers=headers, code=status, body=body
        )
        return found
    if wants_html:
        items = "".join(
            f"<li><code>{html.escape(e['path'])}</code>: {html.escape(e['message'])}</li>"
            for e in body["errors"]
        )
        page = (
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Error {status}</title></head><body><main><h1>Error {status}</h1>"
            f"<p role='alert'>{html.escape(body['error'])}</p><ul>{items}</ul></main></body></html>"
        )
        return HTMLResponse(page, status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Every error, ours or the framework's, leaves as the one envelope."""

    @app.exception_handler(OsmanthusError)
    async def domain(request: Request, exc: OsmanthusError) -> Response:
        return _render(request, envelope(status_of(exc), str(exc)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"path": "/".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg"))}
            for e in exc.errors()
        ]
        return _render(request, envelope(422, "the request is not valid", errors))

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, exc: StarletteHTTPException) -> Response:
        return _render(request, envelope(exc.status_code, str(exc.detail)), exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.url.path)
        return _render(request, envelope(500, "internal error (logged)"))


class ErrorItem(BaseModel):
    """One problem of a refused request: where, and what."""

    path: str
    message: str


class ErrorOut(BaseModel):
    """The one error envelope every refusal of the API answers with."""

    ok: bool = False
    error: str
    errors: list[ErrorItem] = []
    status: int


#: What each documented status means (the error tree's mapping, :data:`_STATUS`).
_MEANING = {
    401: "Not signed in: no API key or session, or one that is not valid.",
    403: "Signed in, but this caller may not do this.",
    404: "No such resident, record, dispute, perk or other thing named.",
    409: "A step the state or the deadline of the dispute does not allow now.",
    413: "The body is larger than the service accepts (upload_max_mb).",
    422: "The request is not valid: the error names the field.",
    429: "Past a limit (a provider's checks of one resident in a day).",
}


def document_errors(app: FastAPI) -> None:
    """Write the error answers into every operation's OpenAPI entry, as the one
    envelope :class:`ErrorOut` they are: 401, 403, 404 and 422 everywhere (the 422 of a
    body that does not validate is the envelope too, not FastAPI's own shape); 409 where
    a dispute or repair step may be refused; 413 where a file is uploaded; 429 for
    eligibility checks."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        found = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(found.pop("$defs", {}))
        components["ErrorOut"] = found
        answer = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                for code in _codes(path, method.upper()):
                    responses[str(code)] = {"description": _MEANING[code], "content": answer}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _codes(path: str, method: str) -> list[int]:
    codes = [401, 403, 404, 422]
    steps = ("/api/v1/disputes", "/api/v1/me/disputes", "/api/v1/me/repairs")
    if method == "POST" and path.startswith(steps):
        codes.append(409)
    if method == "POST" and path == "/api/v1/batches":
        codes.append(413)
    if path == "/api/v1/eligibility":
        codes.append(429)
    return codes
