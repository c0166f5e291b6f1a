"""The web service (FastAPI): operations and the provider API; pages come next.

Each name loads with its module on first use: a command that only makes an API key
(``osmanthus init``, ``osmanthus keys create``) does not load the application, its routers
and what they import (DuckDB and pyarrow among them, a second of start-up).
"""

from typing import TYPE_CHECKING

from osmanthus.lazy import lazy_names

if TYPE_CHECKING:
    from osmanthus.web.access import ROLES, Caller, authenticate, create_key, revoke_key
    from osmanthus.web.app import create_app

__all__ = ["ROLES", "Caller", "authenticate", "create_app", "create_key", "revoke_key"]

__getattr__, __dir__ = lazy_names(
    __name__,
    globals(),
    {
        **dict.fromkeys(
            ["ROLES", "Caller", "authenticate", "create_key", "revoke_key"], "osmanthus.web.access"
        ),
        "create_app": "osmanthus.web.app",
    },
)
