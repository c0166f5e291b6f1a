"""What the service's pure ASGI middlewares share, and the one that keeps redirects under
a proxy's path prefix."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PrefixedRedirects", "route_path"]


def route_path(scope: Scope) -> str:
    """The request's path below the application's mount point (``root_path``, set behind
    a proxy that serves the service under a prefix), as the routes are matched."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :] or "/"
    return path


class PrefixedRedirects:
    """Behind a proxy that serves the service under a prefix (setting ``root_path``,
    for example ``/osmanthus``), a redirect to ``/me`` is sent as ``/osmanthus/me``: the
    routes redirect to their own paths, and this adds the prefix in one place. Pages
    build their links with ``{{ root }}`` (:mod:`osmanthus.web.pages`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root: str = scope.get("root_path", "") if scope["type"] == "http" else ""
        if not root:
            await self.app(scope, receive, send)
            return
        prefix = root.encode("latin-1")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, _prefixed(v, prefix) if k.lower() == b"location" else v)
                    for k, v in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, sending)


def _prefixed(location: bytes, prefix: bytes) -> bytes:
    """``location`` under ``prefix`` when it is a path on this host not already under it."""
    if not location.startswith(b"/") or location.startswith(b"//"):
        return location
    if location == prefix or location.startswith(prefix + b"/"):
        return location
    return prefix + location
