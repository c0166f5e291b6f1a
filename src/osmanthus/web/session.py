"""Who is calling, for the API and for pages: an API key in a header, or a browser
session (a signed cookie) opened by a resident's password or by a staff member's key.

A session is recorded in the ledger database (:mod:`osmanthus.ledger.web_sessions`:
whose it is, the resident's pseudonym or the SHA-256 of the staff key, which is checked
again on every request, so revoking a key ends its sessions). The cookie holds the
session's random token, a CSRF token, and the time of the last request: a session idle
for longer than its limit (15 minutes; 90 seconds in kiosk mode) is signed out, and
signing out ends the recorded session, so a copy of the old cookie is refused (at once in
this process; within :data:`SESSION_MEMORY_SECONDS` in the others, which remember a
looked-up session that long). Forms and htmx requests carry the CSRF token; requests
that carry an API key need none.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from osmanthus.errors import AccessDenied, NotSignedIn
from osmanthus.ledger import Ledger
from osmanthus.ledger.web_sessions import end_session, open_session, session_subject
from osmanthus.web.access import Caller, authenticate, authenticate_digest

__all__ = [
    "CallerDep",
    "LedgerDep",
    "PostingCallerDep",
    "caller",
    "caller_of",
    "check_csrf",
    "close_session",
    "csrf_token",
    "open_key_session",
    "open_resident_session",
    "posting_caller",
    "the_ledger",
]

IDLE_SECONDS = 15 * 60
KIOSK_IDLE_SECONDS = 90
#: Seconds a process remembers a looked-up session (an ended one is refused by the
#: process that ended it at once, by the others within this time).
SESSION_MEMORY_SECONDS = 2.0
_sessions: dict[str, tuple[float, tuple[str, str] | None]] = {}


async def the_ledger(request: Request) -> Ledger:
    found: Ledger = request.app.state.ledger
    return found


def _header_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return x_api_key


#: The time of the last request is written back (a new signed cookie) only when it has
#: moved this far: so a session may end up to this much before its idle limit, never
#: after it, and most requests skip signing a cookie.
SEEN_STEP_SECONDS = 10


def _fresh(session: dict[str, Any]) -> None:
    limit = KIOSK_IDLE_SECONDS if session.get("kiosk") else IDLE_SECONDS
    seen = float(session.get("seen", 0))
    now = time.time()
    if now - seen > limit:
        session.clear()
        raise NotSignedIn("signed out after a period without activity: sign in again")
    if now - seen >= SEEN_STEP_SECONDS:
        session["seen"] = int(now)


async def caller(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Caller:
    """The caller of this request: an API key, else the browser session.

    Async on purpose: it runs on the event loop instead of hopping to a worker thread; a
    key is remembered for 2 s, so the database lookup it may do is rare and short."""
    return _caller(request, _header_key(authorization, x_api_key))


def caller_of(request: Request) -> Caller:
    """:func:`caller` for a route that declares no dependencies (the score page, the
    busiest: FastAPI's solving of the headers cost a sixth of it)."""
    headers = request.headers
    return _caller(request, _header_key(headers.get("authorization"), headers.get("x-api-key")))


def _caller(request: Request, key: str | None) -> Caller:
    engine = request.app.state.ledger.engine
    if key is not None:
        found = authenticate(engine, key)
        request.state.by_key = True
        return found
    session: dict[str, Any] = request.session
    token = session.get("sid")
    recorded = _recorded(engine, str(token)) if token else None
    if recorded is None:
        session.clear()
        raise NotSignedIn("sign in: a resident's ID number and password, or an API key")
    _fresh(session)
    kind, subject = recorded
    if kind == "resident":
        return Caller(role="resident", name=subject[:12], pseudonym=subject)
    return authenticate_digest(engine, subject)


def _recorded(engine: Any, token: str) -> tuple[str, str] | None:
    """The recorded session (kind, subject) of ``token``, remembered for a moment."""
    now = time.monotonic()
    seen = _sessions.get(token)
    if seen is not None and now - seen[0] < SESSION_MEMORY_SECONDS:
        return seen[1]
    found = session_subject(engine, token)
    if len(_sessions) > 10_000:
        _sessions.clear()
    _sessions[token] = (now, found)
    return found


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def posting_caller(request: Request, found: Annotated[Caller, Depends(caller)]) -> Caller:
    """The caller of a state-changing request; a browser session must show its CSRF
    token (form field ``csrf`` or header ``X-CSRF-Token``)."""
    if getattr(request.state, "by_key", False):
        return found
    await check_csrf(request)
    return found


async def check_csrf(request: Request) -> None:
    """Raise :class:`AccessDenied` unless the request shows the session's CSRF token."""
    sent = request.headers.get("x-csrf-token")
    if not sent and request.headers.get("content-type", "").startswith(_FORMS):
        value = (await request.form()).get("csrf")
        sent = value if isinstance(value, str) else None
    expected = request.session.get("csrf", "")
    if not sent or not expected or not hmac.compare_digest(str(sent), str(expected)):
        raise AccessDenied("the form is out of date (CSRF token): reload the page and try again")


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made when the session opens)."""
    return str(request.session.get("csrf", ""))


def _open(request: Request, kind: str, subject: str, *, kiosk: bool = False) -> None:
    close_session(request)  # a session already open in this browser ends first
    engine = request.app.state.ledger.engine
    token = open_session(engine, kind, subject, dt.datetime.now(dt.UTC))
    request.session.update(
        who=kind, sid=token, kiosk=kiosk, csrf=secrets.token_urlsafe(24), seen=int(time.time())
    )


def open_resident_session(request: Request, pseudonym: str, *, kiosk: bool) -> None:
    _open(request, "resident", pseudonym, kiosk=kiosk)


def open_key_session(request: Request, digest: str) -> None:
    _open(request, "key", digest)


def close_session(request: Request) -> None:
    """End the browser's session: recorded as ended (a copy of the cookie is refused) and
    the cookie emptied."""
    token = request.session.get("sid")
    if token:
        end_session(request.app.state.ledger.engine, str(token), dt.datetime.now(dt.UTC))
        _sessions.pop(str(token), None)
    request.session.clear()


LedgerDep = Annotated[Ledger, Depends(the_ledger)]
CallerDep = Annotated[Caller, Depends(caller)]
PostingCallerDep = Annotated[Caller, Depends(posting_caller)]
