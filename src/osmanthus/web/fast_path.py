"""The providers' eligibility check by ID number, answered before the framework's
routing and dependency solving.

It is the busiest request of the service, and measured on two cores the framework's
routing, dependency solving and body handling cost more than the check itself
(docs/benchmarks.md). This pure ASGI middleware answers the common case, a provider's
API key and a JSON body naming the resident by ID number, with the same code as the
declared route (:func:`osmanthus.web.provider.check_by_id`). Anything else (a proof, a
browser session, a body that does not validate, any refusal or error) is handed to the
declared route with the body replayed, so every answer but the plain one still comes
from the route, in the one error envelope.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError as PydanticValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from osmanthus.errors import OsmanthusError
from osmanthus.web.access import authenticate
from osmanthus.web.asgi import route_path
from osmanthus.web.provider import ELIGIBILITY_PATH, EligibilityRequest, check_by_id

__all__ = ["EligibilityFastPath"]

_MOST_BODY = 16_384  # a question is a few hundred bytes; anything longer: the route


@dataclass(frozen=True)
class _Answered:
    """What the request log and the metrics read of a matched route: its path."""

    path: str


_ROUTE = _Answered(ELIGIBILITY_PATH)


class EligibilityFastPath:
    """Answers ``POST /api/v1/eligibility`` by ID number with an API key; passes on the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or route_path(scope) != ELIGIBILITY_PATH
        ):
            await self.app(scope, receive, send)
            return
        body, complete = await _body(receive)
        answer = await self._answer(scope, body) if complete else None
        if answer is None:
            await self.app(scope, _replay(body, complete, receive), send)
            return
        scope["route"] = _ROUTE  # its path labels the metrics and the request log
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode("ascii")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    async def _answer(self, scope: Scope, body: bytes) -> bytes | None:
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        content_type = headers.get(b"content-type", b"")
        if not authorization.lower().startswith("bearer ") or content_type != b"application/json":
            return None
        app = scope["app"]
        try:
            question = EligibilityRequest.model_validate_json(body)
            if question.proof is not None or question.national_id is None:
                return None
            who = authenticate(app.state.ledger.engine, authorization[7:].strip())
            found = await check_by_id(
                app.state.ledger, app.state.decisions, who, question, app.state.daily_checks
            )
        except (PydanticValidationError, OsmanthusError):
            return None  # the declared route answers (and refuses) in the usual way
        return found.model_dump_json().encode()


async def _body(receive: Receive) -> tuple[bytes, bool]:
    """The request body, and whether all of it was read (small bodies only)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > _MOST_BODY:
            return b"".join(chunks), False


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A receive that gives ``body`` again first, then the rest of the request."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay
