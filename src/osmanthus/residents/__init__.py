"""Residents' own services: portal sign-in, who read my data, and the
expiry calendar (the score projected forward, and what would bring each perk)."""

from osmanthus.residents.access_log import AccessEntry, who_read
from osmanthus.residents.credentials import set_password, sign_in, sign_in_verified
from osmanthus.residents.projection import Projection, ProjectionStep, project

__all__ = [
    "AccessEntry",
    "Projection",
    "ProjectionStep",
    "project",
    "set_password",
    "sign_in",
    "sign_in_verified",
    "who_read",
]
