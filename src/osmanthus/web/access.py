"""Who is calling: API keys (stored as SHA-256 only) and the roles they carry.

Roles: ``resident``, ``department``, ``provider``, ``operator``, ``auditor``. A key is a
random token shown once when it is created; the ledger keeps its SHA-256 and the role,
name and (for a department) the department code. A request names its key in the
``Authorization: Bearer <key>`` header (or ``X-API-Key``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine

from osmanthus.errors import AccessDenied, NotSignedIn, ValidationError
from osmanthus.ledger import Actor, insert_key, key_by_digest, revoke_key_digest

__all__ = [
    "ROLES",
    "Caller",
    "Role",
    "authenticate",
    "authenticate_digest",
    "create_key",
    "key_digest",
    "revoke_key",
]

Role = Literal[
    "resident", "department", "provider", "operator", "auditor", "policy-approver", "reviewer"
]
ROLES: tuple[Role, ...] = (
    "resident",
    "department",
    "provider",
    "operator",
    "auditor",
    "policy-approver",
    "reviewer",
)
KEY_ROLES: tuple[Role, ...] = (
    "department",
    "provider",
    "operator",
    "auditor",
    "policy-approver",
    "reviewer",
)
_OPERATOR = Actor("operator", "cli")
_PERK_CODE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: role, name, and the department a department key speaks for."""

    role: Role
    name: str
    department: str | None = None
    pseudonym: str | None = None  # a signed-in resident's (never the ID number)
    key_id: int | None = None  # a staff key's row id
    perks: tuple[str, ...] = ()  # the perks a provider key provides

    @property
    def actor(self) -> Actor:
        return Actor(self.role, self.name)

    @property
    def identity(self) -> Actor:
        """The caller as one staff identity (its key), for decisions two different
        people must take: ``policy-approver:Legal office (key 7)``."""
        return Actor(self.role, f"{self.name} (key {self.key_id})")

    def own_pseudonym(self) -> str:
        """The signed-in resident's pseudonym, for reading their own data;
        :class:`AccessDenied` for any other caller."""
        self.require("resident")
        if self.pseudonym is None:
            raise AccessDenied("only a signed-in resident reads their own data here")
        return self.pseudonym

    def require_perk(self, perk: str) -> Caller:
        """Raise :class:`AccessDenied` unless the caller is a provider whose key provides
        ``perk``: a provider learns nothing about perks it does not provide (asking about
        perks at several thresholds would reveal the score's band)."""
        self.require("provider")
        if perk not in self.perks:
            provides = ", ".join(self.perks) or "none: ask the operator for a key bound to yours"
            raise AccessDenied(f"this key does not provide perk {perk!r} (it provides: {provides})")
        return self

    def require(self, *roles: Role) -> Caller:
        """Raise :class:`AccessDenied` unless the caller has one of ``roles``."""
        if self.role not in roles:
            raise AccessDenied(f"role {self.role!r} may not do this (allowed: {', '.join(roles)})")
        return self


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    engine: Engine,
    *,
    role: str,
    name: str,
    department: str | None = None,
    actor: Actor = _OPERATOR,
    perks: Sequence[str] = (),
) -> str:
    """Create an API key; return it (the only time it is shown). A provider key names the
    perks it provides (codes; the caller checks them against the policy). Audited."""
    if role not in KEY_ROLES:
        raise ValidationError(f"role: expected one of {', '.join(KEY_ROLES)}, found {role!r}")
    if not name.strip() or len(name) > 128:
        raise ValidationError("name: 1 to 128 characters")
    if (role == "department") != (department is not None):
        raise ValidationError("department: required for a department key, and only for one")
    bound = tuple(sorted(set(perks)))
    if (role == "provider") != bool(bound):
        raise ValidationError(
            "perks: a provider key names the perks it provides (at least one), and only one"
        )
    for code in bound:
        if not _PERK_CODE.match(code):
            raise ValidationError(f"perks: {code!r} is not a perk code")
    key = "osm_" + secrets.token_urlsafe(32)
    insert_key(
        engine,
        digest=_digest(key),
        role=role,
        name=name,
        department=department,
        actor=actor,
        perks=bound,
    )
    return key


def revoke_key(engine: Engine, key: str, *, actor: Actor = _OPERATOR) -> None:
    """Revoke a key (it stops working at once). Audited."""
    if not revoke_key_digest(engine, _digest(key), actor=actor):
        raise NotSignedIn("no such key, or already revoked")
    _remembered.clear()  # this process forgets at once


def key_digest(key: str) -> str:
    """The SHA-256 of a key, as stored (a browser session keeps this, never the key)."""
    return _digest(key)


def authenticate(engine: Engine, key: str | None) -> Caller:
    """The caller a key belongs to; :class:`NotSignedIn` when missing, unknown or revoked."""
    if not key:
        raise NotSignedIn("sign in: send an API key (Authorization: Bearer <key>)")
    return authenticate_digest(engine, _digest(key))


#: Seconds a looked-up key is remembered by a process. A key revoked by another process
#: (the CLI, another worker) stops working within this time; in the revoking process, at once.
KEY_MEMORY_SECONDS = 2.0
_remembered: dict[tuple[int, str], tuple[float, Caller | None]] = {}


def authenticate_digest(engine: Engine, digest: str) -> Caller:
    """The caller whose key has this SHA-256 (checked on every request, so a revoked key
    stops a signed-in browser session too)."""
    now = time.monotonic()
    seen = _remembered.get((id(engine), digest))
    if seen is not None and now - seen[0] < KEY_MEMORY_SECONDS:
        found = seen[1]
    else:
        found = _look_up(engine, digest)
        if len(_remembered) > 10_000:
            _remembered.clear()
        _remembered[(id(engine), digest)] = (now, found)
    if found is None:
        raise NotSignedIn("the API key is not valid (unknown or revoked)")
    return found


def _look_up(engine: Engine, digest: str) -> Caller | None:
    found = key_by_digest(engine, digest)
    if found is None:
        return None
    role, name, department, key_id, perks = found
    return Caller(
        role=role,  # type: ignore[arg-type]
        name=name,
        department=department,
        key_id=key_id,
        perks=perks,
    )
