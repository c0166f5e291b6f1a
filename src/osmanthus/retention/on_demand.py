"""Erasure on demand: one resident erased now, on a stated legal ground (a court order,
a request under PIPL Art. 47 that the operator has granted), through the ledger's one
erasure path (:mod:`osmanthus.ledger.erasure`), as the retention pass erases those whose
retention has run."""

from __future__ import annotations

from osmanthus.core import Actor
from osmanthus.errors import NotFound, ValidationError
from osmanthus.ledger import Ledger, read_only
from osmanthus.ledger.erasure import Erased, erase_resident
from osmanthus.ledger.erasure_reads import resident_id_of

__all__ = ["MIN_GROUND", "erase_on_demand"]

#: The shortest legal ground accepted: it names the instrument and the request or order.
MIN_GROUND = 12


def erase_on_demand(
    ledger: Ledger, national_id: str, ground: str, *, actor: Actor, dry_run: bool = False
) -> Erased:
    """Erase the resident with ``national_id`` on ``ground`` (kept as the audit entry's
    purpose); refused for an unknown person, a blank or vague ground, and while a
    dispute or application of theirs is under way. With ``dry_run``, count only."""
    ground = " ".join(ground.split())
    if len(ground) < MIN_GROUND:
        raise ValidationError(
            f"ground: name the legal ground and the request or order (at least {MIN_GROUND} "
            f"characters), found {ground!r}"
        )
    name = ledger.pseudonym_of(national_id)
    with read_only(ledger.engine) as conn:
        found = resident_id_of(conn, name)
    if found is None:
        raise NotFound("no resident is registered under this ID number")
    return erase_resident(
        ledger.engine,
        found,
        actor=actor,
        purpose=f"on demand: {ground}",
        dry_run=dry_run,
        archive=ledger.audit_archive_dir,
    )
