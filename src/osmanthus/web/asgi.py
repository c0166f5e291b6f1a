"""What the service's pure ASGI middlewares share."""

from __future__ import annotations

from starlette.types import Scope

__all__ = ["route_path"]


def route_path(scope: Scope) -> str:
    """The request's path below the application's mount point (``root_path``, set behind
    a proxy that serves the service under a prefix), as the routes are matched."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :] or "/"
    return path
