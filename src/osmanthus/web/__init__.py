"""The web service (FastAPI): operations and the provider API; pages come next."""

from osmanthus.web.access import ROLES, Caller, authenticate, create_key, revoke_key
from osmanthus.web.app import create_app

__all__ = ["ROLES", "Caller", "authenticate", "create_app", "create_key", "revoke_key"]
